package javapeer

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gotribes/tribes/internal/testenv"
	"go.uber.org/goleak"
)

// TestMain checks that no goroutine (reader loops, os/exec copiers) outlives
// the peers' Cleanup.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const waitTimeout = 20 * time.Second

func TestContentMatchesJava(t *testing.T) {
	// Vectors printed by the Java peer ("data" of a message event).
	cases := []struct {
		size, seq int
		prefix    string
		want      string
	}{
		{10, 0, "", "00070e151c232a31383f"},
		{10, 1, "", "01080f161d242b323940"},
		{10, 0, "THROW", "5448524f57232a31383f"},
		{3, 0, "THROW", "5448524f57"},
		{0, 5, "", ""},
	}
	for _, c := range cases {
		if got := hex.EncodeToString(Content(c.size, c.seq, c.prefix)); got != c.want {
			t.Errorf("Content(%d,%d,%q) = %s, want %s", c.size, c.seq, c.prefix, got, c.want)
		}
	}
	if got, want := ContentSHA256(10, 0, ""), "18da5405f99aeda80989c4deefa592bf0bcb1088a546bbd6397e2d26e53e29fe"; got != want {
		t.Errorf("ContentSHA256 = %s, want %s", got, want)
	}
}

func TestTailBuffer(t *testing.T) {
	b := newTailBuffer(8)
	fmt.Fprint(b, "0123")
	fmt.Fprint(b, "456789")
	if got := b.String(); !strings.HasSuffix(got, "\n23456789") || !strings.Contains(got, "2 earlier bytes dropped") {
		t.Fatalf("tail = %q", got)
	}
	fmt.Fprint(b, "abcdefghijkl")
	if got := b.String(); !strings.HasSuffix(got, "efghijkl") {
		t.Fatalf("tail = %q", got)
	}
}

func TestAvailableReason(t *testing.T) {
	reason, ok := Available()
	if ok != (reason == "") {
		t.Fatalf("Available() = %q, %v", reason, ok)
	}
	if !ok {
		t.Logf("Java peer unavailable: %s", reason)
	}
}

// TestSkipWithoutJava hides java/javac from PATH: Start must skip with the reason.
func TestSkipWithoutJava(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	t.Setenv(testenv.NoSkipEnv, "")
	reason, ok := Available()
	if ok || !strings.Contains(reason, "java not in PATH") || !strings.Contains(reason, "javac not in PATH") {
		t.Fatalf("Available() = %q, %v", reason, ok)
	}
	ran := false
	var sub testing.TB
	t.Run("start", func(t *testing.T) {
		sub = t
		Start(t)
		ran = true
	})
	if ran || !sub.Skipped() {
		t.Fatalf("Start did not skip (ran=%v skipped=%v)", ran, sub.Skipped())
	}
	if _, err := RunBench(context.Background(), "127.0.0.1:1", 1, 1, 2, 1); err == nil || !strings.Contains(err.Error(), SkipReason) {
		t.Fatalf("RunBench without java: %v", err)
	}
}

func TestTwoPeers(t *testing.T) {
	Skip(t)
	t.Parallel()
	const aID = "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf"
	a := Start(t, "--id", aID, "--domain", "dom-A", "--payload", "cafe")
	b := Start(t, "--throw-prefix", "THROW")
	if a.IDHex() != aID {
		t.Fatalf("A id = %s, want %s", a.IDHex(), aID)
	}
	if a.Host != "127.0.0.1" || a.Port <= 0 || a.Pid() <= 0 {
		t.Fatalf("A = %s pid %d", a.Member(), a.Pid())
	}
	if a.Port == b.Port {
		t.Fatalf("both peers on port %d", a.Port)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	for _, tc := range []struct {
		options, count, size int
	}{
		{1, 3, 100}, // no ACK
		{3, 2, 10},  // ACK before processing
		{7, 2, 64},  // ACK after processing
		{7, 1, 0},   // empty message
	} {
		res, err := a.Send(ctx, []string{b.Member()}, tc.count, tc.size, tc.options, "")
		if err != nil {
			t.Fatal(err)
		}
		if res.Sent != tc.count || res.Failed != 0 || len(res.Errors) != 0 {
			t.Fatalf("options %d: %+v", tc.options, res)
		}
		if len(res.SHA256) != tc.count || len(res.MsgIDs) != tc.count {
			t.Fatalf("options %d: %d hashes, %d ids", tc.options, len(res.SHA256), len(res.MsgIDs))
		}
		for seq := 0; seq < tc.count; seq++ {
			want := ContentSHA256(tc.size, seq, "")
			if res.SHA256[seq] != want {
				t.Fatalf("options %d seq %d: sender sha %s, want %s", tc.options, seq, res.SHA256[seq], want)
			}
			ev := b.WaitEvent(t, waitTimeout, MessageWithSHA(want))
			if ev.From == nil || ev.From.Host != a.Host || ev.From.Port != a.Port || ev.From.ID != aID {
				t.Fatalf("options %d: from = %+v, want %s", tc.options, ev.From, a.Member())
			}
			if ev.From.Domain != "dom-A" || ev.From.Payload != "cafe" || ev.From.SecurePort != -1 || ev.From.UDPPort != -1 {
				t.Fatalf("options %d: from = %+v", tc.options, ev.From)
			}
			if ev.Size != tc.size || ev.Options != tc.options || ev.MsgID != res.MsgIDs[seq] {
				t.Fatalf("options %d: event %s (msgId want %s)", tc.options, ev.Line, res.MsgIDs[seq])
			}
			if tc.size <= 64 {
				data, err := ev.Bytes()
				if err != nil || string(data) != string(Content(tc.size, seq, "")) {
					t.Fatalf("options %d: data %q (%v)", tc.options, ev.Data, err)
				}
			} else if ev.Data != "" {
				t.Fatalf("content printed for a %d-byte message", tc.size)
			}
		}
	}

	// Sync ACK + throwing listener: FAIL_ACK, reported as RemoteProcessException.
	res, err := a.Send(ctx, []string{b.Member()}, 1, 32, 7, "THROW")
	if err != nil {
		t.Fatal(err)
	}
	if res.Sent != 0 || res.Failed != 1 || len(res.Errors) != 1 {
		t.Fatalf("throwing send: %+v", res)
	}
	if e := res.Errors[0]; e.Member != b.Addr() || !strings.Contains(e.Cause, "RemoteProcessException") {
		t.Fatalf("throwing send error: %+v", e)
	}
	// Tribes retries after a FAIL_ACK (maxRetryAttempts 1), so B may see it twice.
	throwSHA := ContentSHA256(32, 0, "THROW")
	if ev := b.WaitEvent(t, waitTimeout, MessageWithSHA(throwSHA)); !ev.Throw || ev.Options != 7 {
		t.Fatalf("throwing message event: %s", ev.Line)
	}

	// Plain ACK + throwing listener: the ACK is sent before processing.
	res, err = a.Send(ctx, []string{b.Member()}, 1, 33, 3, "THROW")
	if err != nil {
		t.Fatal(err)
	}
	if res.Sent != 1 || res.Failed != 0 {
		t.Fatalf("throwing send with options 3: %+v", res)
	}
	b.WaitEvent(t, waitTimeout, MessageWithSHA(ContentSHA256(33, 0, "THROW")))

	// Nobody listening: connection refused.
	dead := "127.0.0.1:1:" + strings.Repeat("00", 16)
	res, err = a.Send(ctx, []string{dead}, 1, 8, 2, "")
	if err != nil {
		t.Fatal(err)
	}
	if res.Failed != 1 || len(res.Errors) != 1 || res.Errors[0].Member != "127.0.0.1:1" {
		t.Fatalf("send to dead member: %+v", res)
	}

	// Bad command arguments come back as an error.
	if _, err := a.Send(ctx, []string{"nonsense"}, 1, 1, 2, ""); err == nil {
		t.Fatal("Send to a malformed member did not fail")
	}

	st, err := b.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Received < 10 || st.Thrown < 2 {
		t.Fatalf("B stats: %+v", st)
	}
}

func TestEcho(t *testing.T) {
	Skip(t)
	t.Parallel()
	a := Start(t)
	b := Start(t, "--echo", "--rx-threads", "2")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := a.Send(ctx, []string{b.Member()}, 2, 40, 2, "ECHO")
	if err != nil {
		t.Fatal(err)
	}
	if res.Sent != 2 {
		t.Fatalf("send: %+v", res)
	}
	for seq := 0; seq < 2; seq++ {
		sha := ContentSHA256(40, seq, "ECHO")
		ev := a.WaitEvent(t, waitTimeout, MessageWithSHA(sha))
		if ev.From.Port != b.Port || ev.From.ID != b.IDHex() || ev.Options != 7 {
			t.Fatalf("echo event: %s", ev.Line)
		}
		echoed := b.WaitEvent(t, waitTimeout, func(e Event) bool { return e.Event == "echoed" && e.SHA256 == sha })
		if echoed.To != a.Addr() {
			t.Fatalf("echoed event: %s", echoed.Line)
		}
	}
}

// --buffer-pool sets the receiver's useBufferPool (Tomcat's default true), and a value
// other than true or false is a usage error.
func TestBufferPoolOption(t *testing.T) {
	Skip(t)
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, c := range []struct {
		args []string
		want bool
	}{{nil, true}, {[]string{"--buffer-pool", "false"}, false}, {[]string{"--buffer-pool", "true"}, true}} {
		p := Start(t, c.args...)
		st, err := p.Stats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st.BufferPool != c.want {
			t.Fatalf("%v: bufferPool %v, want %v", c.args, st.BufferPool, c.want)
		}
	}
	p, err := start(ctx, "node", "--buffer-pool", "no")
	if err == nil {
		p.Stop()
		t.Fatal("--buffer-pool no started a peer")
	}
	if !strings.Contains(err.Error(), "--buffer-pool wants true or false") {
		t.Fatalf("--buffer-pool no: %v", err)
	}
}

func TestKillAndExit(t *testing.T) {
	Skip(t)
	t.Parallel()
	p := Start(t, "--quiet")
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := p.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	p.Kill()
	select {
	case <-p.Exited():
	default:
		t.Fatal("Kill returned before the process was reaped")
	}
	if _, err := p.NextEvent(ctx); !errors.Is(err, ErrExited) {
		t.Fatalf("NextEvent after kill: %v", err)
	}
	if _, err := p.Send(ctx, []string{p.Member()}, 1, 1, 2, ""); !errors.Is(err, ErrExited) {
		t.Fatalf("Send after kill: %v", err)
	}
	p.Stop() // idempotent

	q := Start(t, "--seconds", "600")
	q.Stop()
	if ev, err := q.NextEvent(ctx); err != nil || ev.Event != "stopped" {
		t.Fatalf("after Stop: %v %v", ev.Line, err)
	}
	if err := q.ExitErr(); err != nil {
		t.Fatalf("exit status after quit: %v", err)
	}
}

func TestStartFailure(t *testing.T) {
	Skip(t)
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), StartTimeout)
	defer cancel()
	p, err := StartNode(ctx, "--id", "zz")
	if err == nil {
		p.Stop()
		t.Fatal("StartNode with a bad id succeeded")
	}
	if p != nil {
		select {
		case <-p.Exited():
		default:
			t.Fatal("failed peer still running")
		}
	}
}

func TestBench(t *testing.T) {
	Skip(t)
	t.Parallel()
	b := Start(t, "--quiet")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := RunBenchOpts(ctx, BenchOptions{To: b.Member(), Count: 300, Size: 256, Options: 6, Warmup: 50})
	if err != nil {
		t.Fatal(err)
	}
	if res.Count != 300 || res.Failed != 0 || res.MsgsPerSec <= 0 || res.P50us <= 0 || res.P99us < res.P50us || res.MaxRssKb <= 0 {
		t.Fatalf("bench: %+v", res)
	}
	t.Logf("java->java 256 B sync ack: %.0f msg/s, p50 %.0f us, p99 %.0f us, rss %d KiB",
		res.MsgsPerSec, res.P50us, res.P99us, res.MaxRssKb)
	st, err := b.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Received != 350 || st.Bytes != 350*256 {
		t.Fatalf("receiver stats: %+v", st)
	}
}

// TestRawPingPong runs the raw ping-pong client against its server and against a real
// Tribes receiver, which takes its frames for messages and answers the same ACK frames.
func TestRawPingPong(t *testing.T) {
	Skip(t)
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv, err := StartPingPongServer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	node := Start(t, "--quiet")
	for _, to := range []string{srv.Member(), node.Member()} {
		res, err := RunRawPingPong(ctx, BenchOptions{To: to, Count: 200, Size: 1024, Options: 3, Warmup: 10})
		if err != nil {
			t.Fatal(err)
		}
		if res.Count != 200 || res.Failed != 0 || res.MsgsPerSec <= 0 || res.P99us < res.P50us || res.Size != 1024 {
			t.Fatalf("ping-pong to %s: %+v", to, res)
		}
	}
	st, err := node.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Received != 210 || st.Bytes != 210*1024 {
		t.Fatalf("the Tribes receiver's stats: %+v", st)
	}
}

// TestBenchFanout sends every message of bench-send to two receivers (tribesdemo bench's
// fan-out rows): each gets all of them, and MB/s counts both destinations.
func TestBenchFanout(t *testing.T) {
	Skip(t)
	t.Parallel()
	a, b := Start(t, "--quiet"), Start(t, "--quiet")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := RunBenchOpts(ctx, BenchOptions{To: a.Member() + "," + b.Member(), Count: 200, Size: 256, Options: 6, Warmup: 10})
	if err != nil {
		t.Fatal(err)
	}
	if res.Count != 200 || res.Failed != 0 || res.MsgsPerSec <= 0 {
		t.Fatalf("bench: %+v", res)
	}
	if want := 2 * res.MsgsPerSec * 256 / 1e6; res.MBPerSec < want*0.98 || res.MBPerSec > want*1.02 { // the peer prints rounded figures
		t.Fatalf("MB/s %.4f, want %.4f (both destinations)", res.MBPerSec, want)
	}
	for _, p := range []*Peer{a, b} {
		st, err := p.Stats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st.Received != 210 {
			t.Fatalf("receiver %s got %d messages, want 210", p.Member(), st.Received)
		}
	}
}

func TestGoldenReproducible(t *testing.T) {
	Skip(t)
	t.Parallel()
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := Golden(ctx, dir); err != nil {
		t.Fatal(err)
	}
	src, err := SourceDir()
	if err != nil {
		t.Fatal(err)
	}
	committed := filepath.Join(src, "..", "..", "wire", "testdata", "golden")
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	if len(files) != 9 {
		t.Fatalf("golden wrote %d files", len(files))
	}
	for _, f := range files {
		got, _ := os.ReadFile(f)
		want, err := os.ReadFile(filepath.Join(committed, filepath.Base(f)))
		if err != nil {
			t.Errorf("%s: %v (run scripts/gen-golden.sh)", filepath.Base(f), err)
			continue
		}
		if string(got) != string(want) {
			t.Errorf("%s differs from wire/testdata/golden (run scripts/gen-golden.sh)", filepath.Base(f))
		}
	}
}

func TestJserialGoldenReproducible(t *testing.T) {
	Skip(t)
	t.Parallel()
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := JserialGolden(ctx, dir); err != nil {
		t.Fatal(err)
	}
	src, err := SourceDir()
	if err != nil {
		t.Fatal(err)
	}
	committed, _ := filepath.Glob(filepath.Join(src, "..", "..", "jserial", "testdata", "*.ser"))
	files, _ := filepath.Glob(filepath.Join(dir, "*.ser"))
	if len(files) == 0 || len(files) != len(committed) {
		t.Fatalf("jserial-golden wrote %d files, %d committed (run scripts/gen-golden.sh jserial)", len(files), len(committed))
	}
	for _, f := range committed {
		want, _ := os.ReadFile(f)
		got, err := os.ReadFile(filepath.Join(dir, filepath.Base(f)))
		if err != nil || string(got) != string(want) {
			t.Errorf("%s differs from jserial/testdata (run scripts/gen-golden.sh jserial): %v", filepath.Base(f), err)
		}
	}
}

func TestConcurrentCompile(t *testing.T) {
	Skip(t)
	if testing.Short() {
		t.Skip("compiles the peer twice; skipped with -short")
	}
	t.Parallel()
	src, err := SourceDir()
	if err != nil {
		t.Fatal(err)
	}
	files, _, err := sourceKey(src)
	if err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(t.TempDir(), "classes")
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = compileInto(files, target)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(filepath.Join(target, MainClass+".class")); err != nil || !complete(target) {
		t.Fatalf("compiled classes missing: %v", err)
	}
	left, _ := filepath.Glob(target + ".tmp-*")
	if len(left) != 0 {
		t.Fatalf("temporary directories left: %v", left)
	}
}
