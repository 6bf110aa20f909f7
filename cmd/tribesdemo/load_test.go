package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/testenv"
	"github.com/gotribes/tribes/internal/testutil"
)

// noKeepAlive is an HTTP client that leaves no idle connection (and goroutine) behind.
var noKeepAlive = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 30 * time.Second}

func TestLoadAndRTTAreCommands(t *testing.T) {
	for _, name := range []string{"load", "rtt"} {
		found := false
		for _, c := range commands {
			found = found || c.name == name
		}
		if !found {
			t.Errorf("%q is not in the command table of main.go", name)
		}
	}
}

// startNode runs "tribesdemo node" in this process and returns its --static address.
func startNode(t *testing.T, extra ...string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	args := append([]string{"node", "--port", "0", "--seconds", "60"}, extra...)
	lines, done := startCmd(t, ctx, args...)
	started := next(t, lines, "started")
	t.Cleanup(func() {
		cancel()
		go func() { // drain, so that the node never blocks on its output
			for range lines {
			}
		}()
		if code := <-done; code != 0 {
			t.Errorf("node exit %d", code)
		}
	})
	go func() { // keep the node's per-message lines from filling the pipe
		for range lines {
		}
	}()
	return memberArg(started)
}

func runJSON[T any](t *testing.T, f func(context.Context, []string, io.Writer, io.Writer) error, args ...string) (T, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := f(context.Background(), args, &out, &errOut)
	var res T
	if jerr := json.Unmarshal(out.Bytes(), &res); jerr != nil {
		t.Fatalf("%v: output is not one JSON object: %v\nstdout: %s\nstderr: %s", args, jerr, out.String(), errOut.String())
	}
	return res, err
}

func TestLoad(t *testing.T) {
	target := startNode(t, "--quiet")
	res, err := runJSON[loadResult](t, runLoad, "--port", "0", "--static", target, "--count", "300", "--size", "100",
		"--threads", "3", "--options", "use_ack,sync", "--seconds", "30", "--json")
	if err != nil {
		t.Fatal(err)
	}
	if res.Sent != 300 || res.Failed != 0 || len(res.Members) != 1 || res.Stopped != "count" || res.Threads != 3 {
		t.Fatalf("result %+v", res)
	}
	if !(res.P50us > 0 && res.P50us <= res.P90us && res.P90us <= res.P99us && res.P99us <= res.MaxUs) {
		t.Errorf("percentiles out of order: %+v", res)
	}
	if res.MsgsPerSec <= 0 || res.MBPerSec <= 0 {
		t.Errorf("rates %+v", res)
	}

	// The table, on a writer that is not a terminal: no progress bar, no control characters.
	var out, errOut bytes.Buffer
	if err := runLoad(context.Background(), []string{"--port", "0", "--static", target, "--count", "50", "--size", "10"}, &out, &errOut); err != nil {
		t.Fatalf("%v: %s", err, errOut.String())
	}
	s := out.String()
	if strings.ContainsAny(s, "\r\x1b") {
		t.Errorf("control characters in output to a non-terminal: %q", s)
	}
	if !regexp.MustCompile(`(?m)^\s*sent\s+failed\s+time\s+msgs/s\s+MB/s\s+p50\s+p90\s+p99\s+max\s*$`).MatchString(s) ||
		!regexp.MustCompile(`(?m)^\s*50\s+0\s+[0-9.]+ s\s+\d+\s+[0-9.]+\s+`).MatchString(s) {
		t.Errorf("table:\n%s", s)
	}
}

func TestLoadLimits(t *testing.T) {
	target := startNode(t, "--quiet")
	// --seconds ends a run that --count would not.
	res, err := runJSON[loadResult](t, runLoad, "--port", "0", "--static", target, "--count", "1000000", "--size", "10",
		"--pause", "2ms", "--seconds", "0.5", "--json")
	if err != nil {
		t.Fatal(err)
	}
	if res.Stopped != "time" || res.Sent == 0 || res.Sent >= 1000000 || res.Seconds > 5 {
		t.Errorf("timed run: %+v", res)
	}
	// No member: a clear error after --wait.
	var out, errOut bytes.Buffer
	err = runLoad(context.Background(), []string{"--port", "0", "--wait", "100ms"}, &out, &errOut)
	if !errors.Is(err, channel.ErrNoMembers) {
		t.Errorf("no members: %v", err)
	}
	// A member that is down: every send fails, they are counted by member and cause, exit 1.
	res, err = runJSON[loadResult](t, runLoad, "--port", "0", "--static", "127.0.0.1:1:000102030405060708090a0b0c0d0e0f",
		"--count", "20", "--json")
	if err == nil || res.Failed != 20 || res.Sent != 0 {
		t.Fatalf("dead member: %v %+v", err, res)
	}
	if len(res.Errors) != 1 {
		t.Errorf("errors by cause: %v", res.Errors)
	}
	for k, n := range res.Errors {
		if !strings.HasPrefix(k, "127.0.0.1:1: ") || n != 20 {
			t.Errorf("cause %q × %d", k, n)
		}
	}
	for _, bad := range [][]string{{"--count", "0"}, {"--threads", "0"}, {"--options", "fast"}, {"extra"}} {
		if err := runLoad(context.Background(), bad, io.Discard, io.Discard); !errors.Is(err, errUsage) {
			t.Errorf("%v: %v", bad, err)
		}
	}
}

func TestRTT(t *testing.T) {
	echo := startNode(t, "--echo")
	res, err := runJSON[rttResult](t, runRTT, "--port", "0", "--static", echo, "--count", "40", "--warmup", "2", "--json")
	if err != nil {
		t.Fatal(err)
	}
	if res.Mode != "echo" || res.Answered != 40 || res.Lost != 0 || res.Peer != strings.Join(strings.Split(echo, ":")[:2], ":") {
		t.Fatalf("echo: %+v", res)
	}
	if !(res.MinUs > 0 && res.MinUs <= res.P50us && res.P50us <= res.P99us && res.P99us <= res.MaxUs) {
		t.Errorf("percentiles out of order: %+v", res)
	}

	// A node without --echo: auto falls back to use_ack,sync sends after the first probe.
	plain := startNode(t, "--quiet")
	res, err = runJSON[rttResult](t, runRTT, "--port", "0", "--static", plain, "--count", "40", "--timeout", "300ms", "--json")
	if err != nil {
		t.Fatal(err)
	}
	if res.Mode != "sync-ack" || res.Answered != 40 || !strings.Contains(res.Options, "sync") {
		t.Fatalf("fallback: %+v", res)
	}
	// --mode echo against it loses every probe.
	res, err = runJSON[rttResult](t, runRTT, "--port", "0", "--static", plain, "--count", "2", "--warmup", "0",
		"--timeout", "100ms", "--mode", "echo", "--json")
	if err == nil || res.Lost != 2 {
		t.Errorf("echo mode without echo: %v %+v", err, res)
	}
	if err := runRTT(context.Background(), []string{"--size", "4"}, io.Discard, io.Discard); !errors.Is(err, errUsage) {
		t.Errorf("--size 4: %v", err)
	}
}

func TestMetricsFlag(t *testing.T) {
	target := startNode(t, "--quiet")
	var nf nodeFlags
	var mf metricsFlag
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	nf.register(fs, 0)
	mf.register(fs)
	if err := fs.Parse([]string{"--port", "0", "--static", target, "--metrics-addr", "127.0.0.1:0"}); err != nil {
		t.Fatal(err)
	}
	ch, err := nf.build(io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var errOut bytes.Buffer
	stop, err := mf.serve(context.Background(), ch, &errOut)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	ctx := context.Background()
	if err := ch.Start(ctx, channel.SvcAll); err != nil {
		t.Fatal(err)
	}
	defer ch.Stop(ctx, channel.SvcAll)
	for range 3 {
		if err := ch.Send(ctx, nil, []byte("x"), channel.OptUseAck); err != nil {
			t.Fatal(err)
		}
	}
	url := regexp.MustCompile(`http://\S+/metrics`).FindString(errOut.String())
	if url == "" {
		t.Fatalf("no metrics URL on stderr: %q", errOut.String())
	}
	resp, err := noKeepAlive.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, want := range []string{"tribes_channel_messages_sent_total 3\n", "tribes_transport_messages_sent_total 3\n", "tribes_channel_members 1\n",
		"# TYPE go_goroutines gauge\n", "# TYPE process_resident_memory_bytes gauge\n"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q:\n%s", want, body)
		}
	}
	resp, err = noKeepAlive.Get(strings.TrimSuffix(url, "/metrics") + "/debug/vars")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var vars struct {
		Tribes map[string]map[string]any `json:"tribes"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&vars); err != nil {
		t.Fatalf("/debug/vars: %v", err)
	}
	if got := vars.Tribes["channel"]["MessagesSent"]; got != 3.0 {
		t.Errorf("/debug/vars: channel MessagesSent %v: %v", got, vars.Tribes)
	}
}

func TestPercentilesAndFormat(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i)*time.Microsecond)
	}
	for p, want := range map[float64]time.Duration{50: 50 * time.Microsecond, 90: 90 * time.Microsecond, 99: 99 * time.Microsecond, 100: 100 * time.Microsecond, 0: time.Microsecond} {
		if got := percentile(d, p); got != want {
			t.Errorf("p%v = %v, want %v", p, got, want)
		}
	}
	if percentile(nil, 50) != 0 || percentile(d[:1], 99) != time.Microsecond {
		t.Error("edge cases")
	}
	l := newLatencies(10, 3)
	for _, x := range []time.Duration{5, 1, 3, 9} {
		l.add(x)
	}
	if s := l.summary(); s.N != 4 || s.Max != 9 || s.P50 != 3 || s.P99 != 5 {
		t.Errorf("summary over the kept ones, max over all: %+v", s)
	}
	for d, want := range map[time.Duration]string{0: "-", 85 * time.Microsecond: "85 µs", 1250 * time.Microsecond: "1.25 ms", 2100 * time.Millisecond: "2.10 s"} {
		if got := fmtDur(d); got != want {
			t.Errorf("fmtDur(%v) = %q, want %q", d, got, want)
		}
	}
	byCause := map[string]int{}
	m := channel.Member{Host: []byte{127, 0, 0, 1}, Port: 4000}
	for range 3 {
		countFailure(byCause, &channel.SendError{MessageID: []byte{1}, Faulty: []channel.FaultyMember{{Member: m, Err: channel.ErrAckTimeout}}})
	}
	countFailure(byCause, errors.New("plain"))
	if byCause["127.0.0.1:4000: "+channel.ErrAckTimeout.Error()] != 3 || byCause["plain"] != 1 {
		t.Errorf("byCause %v", byCause)
	}
}

func TestProgressBar(t *testing.T) {
	// The line: the percentage, the bar and the counts, on one line redrawn in place.
	// Each draw starts with \r; the last one counts.
	lineRE := regexp.MustCompile(`\r\s*(\d+)% \[(#*)(\.*)\]\s+(\d+)/(\d+|\?)\s+\d+ msgs/s\s+(\d+) failed\s+[\d.]+ s\s*\x1b\[0K$`)
	var buf bytes.Buffer
	p := newProgress(&buf, 200, 0, func() (int64, int64) { return 50, 5 })
	p.start = time.Now().Add(-time.Second)
	p.draw(false, false)
	m := lineRE.FindStringSubmatch(buf.String())
	if m == nil || m[1] != "25" || m[4] != "50" || m[5] != "200" || m[6] != "5" {
		t.Fatalf("line %q", buf.String())
	}
	if filled, all := len(m[2]), len(m[2]+m[3]); all != 40 || filled != 10 {
		t.Errorf("a quarter of the bar should be filled: %q", m[0])
	}
	// By time when that is further along; no count limit shows "?".
	buf.Reset()
	p = newProgress(&buf, 0, 2*time.Second, func() (int64, int64) { return 1, 0 })
	p.start = time.Now().Add(-time.Second)
	p.draw(false, false)
	if m := lineRE.FindStringSubmatch(buf.String()); m == nil || m[1] != "50" || m[5] != "?" {
		t.Errorf("by time %q", buf.String())
	}
	// The redrawing goroutine ends with a final line at 100 % and a newline.
	sw := &testutil.Buffer{}
	finish := startProgress(sw, 10, 0, func() (int64, int64) { return 10, 0 })
	finish(true)
	finish(true) // twice is harmless
	out := sw.String()
	if m := lineRE.FindStringSubmatch(strings.TrimSuffix(out, "\n")); !strings.HasSuffix(out, "\n") || m == nil || m[1] != "100" || m[4] != "10" || len(m[3]) != 0 {
		t.Errorf("progress output %q", out)
	}
	// A run stopped by its time limit ends at 100 % even if this clock is a moment
	// behind the run's timer; an interrupted one shows how far it got.
	for _, c := range []struct {
		complete bool
		want     string
	}{{true, "100"}, {false, "50"}} {
		var b bytes.Buffer
		p := newProgress(&b, 0, 2*time.Second, func() (int64, int64) { return 1, 0 })
		p.start = time.Now().Add(-time.Second)
		p.draw(true, c.complete)
		if m := lineRE.FindStringSubmatch(b.String()); m == nil || m[1] != c.want {
			t.Errorf("last draw, complete=%v: %q, want %s %%", c.complete, b.String(), c.want)
		}
	}
}

// TestTerminalDetection opens a pseudo-terminal: its slave end is a terminal; a pipe, a
// file and a buffer are not.
func TestTerminalDetection(t *testing.T) {
	if isTerminal(&bytes.Buffer{}) {
		t.Error("a buffer is a terminal")
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if isTerminal(w) {
		t.Error("a pipe is a terminal")
	}
	f, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if isTerminal(f) {
		t.Error("a file is a terminal")
	}
	master, slave, err := openPTY()
	if errors.Is(err, errors.ErrUnsupported) {
		t.Skip("opens its pseudo-terminal through Linux's /dev/ptmx only")
	}
	if err != nil {
		testenv.Missing(t, "no pseudo-terminal here: %v", err)
	}
	defer master.Close()
	defer slave.Close()
	if !isTerminal(slave) {
		t.Error("a pty is not a terminal")
	}
}
