package farm_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/farm"
	"github.com/gotribes/tribes/internal/testutil"
)

// node is a channel with a started deployer and what its callbacks saw.
type node struct {
	ch      *channel.Channel
	d       *farm.Deployer
	deploy  string // DeployDir
	temp    string // TempDir
	mu      sync.Mutex
	got     []farm.Deployment
	removed []string
}

func (n *node) installs() []farm.Deployment {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]farm.Deployment(nil), n.got...)
}

func (n *node) removals() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]string(nil), n.removed...)
}

// startNode starts a channel on nw and a deployer with cfg (its directories, channel
// and callbacks filled in).
func startNode(t *testing.T, nw *channeltest.Network, cfg farm.Config) *node {
	t.Helper()
	_, ch := nw.StartChannel(t)
	n := &node{ch: ch, deploy: t.TempDir(), temp: t.TempDir()}
	cfg.Channel, cfg.DeployDir, cfg.TempDir = ch, n.deploy, n.temp
	cfg.OnInstall = func(d farm.Deployment) error {
		n.mu.Lock()
		defer n.mu.Unlock()
		n.got = append(n.got, d)
		return nil
	}
	cfg.OnRemove = func(c string) {
		n.mu.Lock()
		defer n.mu.Unlock()
		n.removed = append(n.removed, c)
	}
	var err error
	if n.d, err = farm.New(cfg); err != nil {
		t.Fatal(err)
	}
	if err := n.d.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := n.d.Stop(context.Background()); err != nil {
			t.Error(err)
		}
	})
	return n
}

// content returns n bytes that differ from those of another seed.
func content(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7) + seed
	}
	return b
}

func writeFile(t *testing.T, dir, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// entries lists a directory's names.
func entries(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

// TestInstallAndRemove: a file sent in several chunks to two members lands in each
// one's DeployDir with its bytes, OnInstall names the context and the sender; Remove
// takes it away from both and from the sender.
func TestInstallAndRemove(t *testing.T) {
	ctx := context.Background()
	nw := channeltest.NewNetwork()
	a := startNode(t, nw, farm.Config{ChunkSize: 4096})
	b, c := startNode(t, nw, farm.Config{}), startNode(t, nw, farm.Config{})
	for _, size := range []int{0, 1, 4096, 3*4096 + 17} { // empty, one partial chunk, exactly one, several
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			want := content(size, byte(size))
			src := writeFile(t, t.TempDir(), "shop.war", want)
			if err := a.d.Install(ctx, "/shop", src); err != nil {
				t.Fatal(err)
			}
			for _, n := range []*node{b, c} {
				got, err := os.ReadFile(filepath.Join(n.deploy, "shop.war"))
				if err != nil || !bytes.Equal(got, want) {
					t.Fatalf("installed %d bytes (%v), want %d", len(got), err, len(want))
				}
				ins := n.installs()
				last := ins[len(ins)-1]
				if last.ContextName != "/shop" || last.Path != filepath.Join(n.deploy, "shop.war") ||
					last.From.Key() != a.ch.LocalMember().Key() {
					t.Errorf("OnInstall %+v", last)
				}
				if left := entries(t, n.temp); len(left) != 0 {
					t.Errorf("temporary files left: %v", left)
				}
			}
		})
	}
	if st := b.d.Stats(); st.FilesReceived != 4 || st.Refused != 0 || st.Incomplete != 0 {
		t.Errorf("receiver stats %+v", st)
	}
	if st := a.d.Stats(); st.FilesSent != 4 {
		t.Errorf("sender stats %+v", st)
	}
	writeFile(t, a.deploy, "shop.war", []byte("local"))
	if err := a.d.Remove(ctx, "/shop", true); err != nil {
		t.Fatal(err)
	}
	for _, n := range []*node{a, b, c} {
		if left := entries(t, n.deploy); len(left) != 0 {
			t.Errorf("deploy dir after Remove: %v", left)
		}
		if r := n.removals(); len(r) != 1 || r[0] != "/shop" {
			t.Errorf("OnRemove calls %v", r)
		}
	}
	if st := b.d.Stats(); st.UndeploysReceived != 1 {
		t.Errorf("receiver stats %+v", st)
	}
}

// TestDeploy installs a file here and on the member; a new version replaces it on both.
func TestDeploy(t *testing.T) {
	ctx := context.Background()
	nw := channeltest.NewNetwork()
	a, b := startNode(t, nw, farm.Config{}), startNode(t, nw, farm.Config{})
	dir := t.TempDir()
	for v := range 2 {
		want := content(30000, byte(v))
		if err := a.d.Deploy(ctx, writeFile(t, dir, "api#v2.war", want)); err != nil {
			t.Fatal(err)
		}
		for _, n := range []*node{a, b} {
			if got, err := os.ReadFile(filepath.Join(n.deploy, "api#v2.war")); err != nil || !bytes.Equal(got, want) {
				t.Fatalf("version %d: installed %d bytes (%v)", v, len(got), err)
			}
			if ins := n.installs(); len(ins) != v+1 || ins[v].ContextName != "/api/v2" {
				t.Fatalf("OnInstall calls %+v", ins)
			}
		}
	}
}

// send hands a FileMessage to the deployer as a member would.
func send(t *testing.T, from *node, to *node, m *farm.FileMessage) error {
	t.Helper()
	data, err := farm.AppendMessage(nil, m)
	if err != nil {
		t.Fatal(err)
	}
	return from.ch.SendMessage(context.Background(), []channel.Member{to.ch.LocalMember()},
		&channel.Message{Options: channel.OptUseAck | channel.OptSyncAck, Data: data})
}

// receive hands a FileMessage to the deployer of to as the channel delivers one sent
// by from with opts, and returns the deployer's answer.
func receive(t *testing.T, from *node, to *node, opts channel.SendOptions, m *farm.FileMessage) error {
	t.Helper()
	data, err := farm.AppendMessage(nil, m)
	if err != nil {
		t.Fatal(err)
	}
	return farm.Receive(to.d, &channel.Message{Source: from.ch.LocalMember(), Options: opts, Data: data})
}

// TestChunksOutOfOrder: chunks arriving out of order (Tomcat sends them asynchronously,
// by default through its dispatch interceptor's thread pool) are held until the missing
// one arrives; duplicates are ignored. (From a synchronized-ack sender they cannot:
// TestChunkAheadFromInOrderSender.)
func TestChunksOutOfOrder(t *testing.T) {
	nw := channeltest.NewNetwork()
	a, b := startNode(t, nw, farm.Config{}), startNode(t, nw, farm.Config{})
	parts := [][]byte{content(100, 1), content(100, 2), content(100, 3), content(50, 4)}
	for _, n := range []int{3, 2, 3, 4, 1, 2} {
		if err := receive(t, a, b, channel.OptAsync|channel.OptUseAck|channel.OptSyncAck, &farm.FileMessage{
			Number: int32(n), Total: 4, Data: parts[n-1], FileName: "x.war", ContextName: "/x"}); err != nil {
			t.Fatalf("chunk %d: %v", n, err)
		}
	}
	got, err := os.ReadFile(filepath.Join(b.deploy, "x.war"))
	if want := bytes.Join(parts, nil); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("file of %d bytes (%v), want %d", len(got), err, len(want))
	}
	if st := b.d.Stats(); st.FilesReceived != 1 || st.Refused != 0 {
		t.Errorf("stats %+v", st)
	}
}

// TestHostileChunks: names that would leave the deploy directory, inconsistent
// numbering and sizes over the limits are refused with a FAIL_ACK, counted, and leave
// nothing behind.
func TestHostileChunks(t *testing.T) {
	nw := channeltest.NewNetwork()
	a := startNode(t, nw, farm.Config{})
	b := startNode(t, nw, farm.Config{MaxFileBytes: 1000, MaxChunkBytes: 600, MaxOutOfOrderBytes: 700,
		MaxIncomplete: 2})
	outside := t.TempDir()
	for _, tc := range []struct {
		name string
		msgs []farm.FileMessage
		want error
	}{
		{"traversal", []farm.FileMessage{{Number: 1, Total: 1, FileName: "../../" + filepath.Base(outside) + "/x.war"}}, farm.ErrBadName},
		{"absolute", []farm.FileMessage{{Number: 1, Total: 1, FileName: filepath.Join(outside, "x.war")}}, farm.ErrBadName},
		{"hidden", []farm.FileMessage{{Number: 1, Total: 1, FileName: ".x.war"}}, farm.ErrBadName},
		{"dot-dot", []farm.FileMessage{{Number: 1, Total: 1, FileName: ".."}}, farm.ErrBadName},
		{"empty name", []farm.FileMessage{{Number: 1, Total: 1}}, farm.ErrBadName},
		{"context", []farm.FileMessage{{Number: 1, Total: 1, FileName: "x.war", ContextName: "/a/../../b"}}, farm.ErrBadName},
		{"version traversal", []farm.FileMessage{{Number: 1, Total: 1, FileName: "x.war", ContextName: "##/../../b"}}, farm.ErrBadName},
		{"versioned path traversal", []farm.FileMessage{{Number: 1, Total: 1, FileName: "x.war", ContextName: "/a##2/../b"}}, farm.ErrBadName},
		{"empty version", []farm.FileMessage{{Number: 1, Total: 1, FileName: "x.war", ContextName: "/a##"}}, farm.ErrBadName},
		{"unrooted version", []farm.FileMessage{{Number: 1, Total: 1, FileName: "x.war", ContextName: "a##2"}}, farm.ErrBadName},
		{"number 0", []farm.FileMessage{{Number: 0, Total: 1, FileName: "x.war"}}, farm.ErrInconsistent},
		{"beyond total", []farm.FileMessage{{Number: 3, Total: 2, FileName: "x.war"}}, farm.ErrInconsistent},
		{"total changes", []farm.FileMessage{{Number: 1, Total: 3, FileName: "y.war", Data: []byte("a")},
			{Number: 2, Total: 4, FileName: "y.war"}}, farm.ErrInconsistent},
		{"chunk too large", []farm.FileMessage{{Number: 1, Total: 1, FileName: "x.war", Data: make([]byte, 601)}}, farm.ErrTooLarge},
		{"file too large", []farm.FileMessage{{Number: 1, Total: 3, FileName: "z.war", Data: make([]byte, 600)},
			{Number: 2, Total: 3, FileName: "z.war", Data: make([]byte, 600)}}, farm.ErrTooLarge},
		{"held too much", []farm.FileMessage{{Number: 2, Total: 3, FileName: "w.war", Data: make([]byte, 400)},
			{Number: 3, Total: 3, FileName: "w.war", Data: make([]byte, 400)}}, farm.ErrTooLarge},
		{"held too many", emptyChunks("e.war", 20), farm.ErrTooLarge}, // 64 bytes each against 700
		{"too many", []farm.FileMessage{{Number: 1, Total: 2, FileName: "p.war"}, {Number: 1, Total: 2, FileName: "q.war"},
			{Number: 1, Total: 2, FileName: "r.war"}}, farm.ErrTooMany},
	} {
		t.Run(tc.name, func(t *testing.T) {
			refused := b.d.Stats().Refused
			var err error
			for i := range tc.msgs {
				data, aerr := farm.AppendMessage(nil, &tc.msgs[i])
				if aerr != nil {
					t.Fatal(aerr)
				}
				if err = farm.Receive(b.d, &channel.Message{Source: a.ch.LocalMember(), Data: data}); err != nil {
					break
				}
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
			if got := b.d.Stats().Refused; got != refused+1 {
				t.Errorf("refused %d, want %d", got, refused+1)
			}
		})
	}
	// Over the channel, a refused chunk is a FAIL_ACK for its sender.
	if err := send(t, a, b, &farm.FileMessage{Number: 1, Total: 1, FileName: "../x.war"}); !errors.Is(err, channel.ErrAckFailed) {
		t.Errorf("send of a refused chunk: %v, want a FAIL_ACK", err)
	}
	if len(entries(t, outside)) != 0 || len(entries(t, b.deploy)) != 0 {
		t.Errorf("files written: outside %v, deploy dir %v", entries(t, outside), entries(t, b.deploy))
	}
	// p.war and q.war are still incomplete; nothing else is in the temporary directory.
	if left := entries(t, b.temp); len(left) != 2 || b.d.Stats().Incomplete != 2 {
		t.Errorf("temporary files %v, incomplete %d", left, b.d.Stats().Incomplete)
	}
}

// emptyChunks returns chunks 2 to n+1 of a file of 1<<40 chunks, without data: all of
// them wait for chunk 1.
func emptyChunks(name string, n int) []farm.FileMessage {
	var ms []farm.FileMessage
	for i := range n {
		ms = append(ms, farm.FileMessage{Number: int32(i + 2), Total: 1 << 40, FileName: name})
	}
	return ms
}

// TestIncompleteExpires: a file whose next chunk does not come within MaxValidTime is
// dropped with its temporary copy.
func TestIncompleteExpires(t *testing.T) {
	nw := channeltest.NewNetwork()
	a := startNode(t, nw, farm.Config{})
	b := startNode(t, nw, farm.Config{MaxValidTime: 100 * time.Millisecond, WatchInterval: 20 * time.Millisecond})
	if err := send(t, a, b, &farm.FileMessage{Number: 1, Total: 2, FileName: "x.war", Data: []byte("half")}); err != nil {
		t.Fatal(err)
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "the incomplete file expired", func() bool {
		return b.d.Stats().Expired == 1
	})
	if left := entries(t, b.temp); len(left) != 0 || b.d.Stats().Incomplete != 0 {
		t.Errorf("temporary files %v", left)
	}
	// The second chunk alone, from a synchronized-ack sender, is refused: chunk 1 will
	// not come again.
	if err := send(t, a, b, &farm.FileMessage{Number: 2, Total: 2, FileName: "x.war", Data: []byte("rest")}); !errors.Is(err, channel.ErrAckFailed) {
		t.Errorf("chunk 2 of a dropped file: %v, want a FAIL_ACK", err)
	}
	// From an asynchronous sender, it starts a new file, which stays incomplete.
	if err := receive(t, a, b, channel.OptAsync, &farm.FileMessage{Number: 2, Total: 2, FileName: "x.war",
		Data: []byte("rest")}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(b.deploy, "x.war")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("x.war installed from half a file: %v", err)
	}
}

// TestWatchDir: a file copied into the watch directory is deployed here and on the
// member once a scan finds it unchanged; a new version replaces it; removing it
// undeploys it everywhere.
func TestWatchDir(t *testing.T) {
	nw := channeltest.NewNetwork()
	watch := t.TempDir()
	a := startNode(t, nw, farm.Config{WatchDir: watch, WatchInterval: 20 * time.Millisecond})
	b := startNode(t, nw, farm.Config{})
	writeFile(t, watch, "notes.txt", []byte("not a war")) // not matched by *.war
	installed := func(want []byte) {
		t.Helper()
		testutil.Eventually(t, testutil.WaitLimit, func() error {
			for _, n := range []*node{a, b} {
				got, err := os.ReadFile(filepath.Join(n.deploy, "shop.war"))
				if err != nil || !bytes.Equal(got, want) {
					return fmt.Errorf("%s: %d bytes, %v", n.deploy, len(got), err)
				}
			}
			return nil
		})
	}
	v1 := content(25000, 1)
	writeFile(t, watch, "shop.war", v1)
	installed(v1)
	v2 := content(26000, 2)
	writeFile(t, watch, "shop.war", v2)
	installed(v2)
	if err := os.Remove(filepath.Join(watch, "shop.war")); err != nil {
		t.Fatal(err)
	}
	// The file goes before OnRemove runs: wait for both.
	testutil.EventuallyTrue(t, testutil.WaitLimit, "undeployed on both", func() bool {
		return len(entries(t, a.deploy)) == 0 && len(entries(t, b.deploy)) == 0 &&
			len(a.removals()) > 0 && len(b.removals()) > 0
	})
	for _, n := range []*node{a, b} {
		if r := n.removals(); len(r) != 1 || r[0] != "/shop" {
			t.Errorf("OnRemove calls %v", r)
		}
		for _, d := range n.installs() {
			if d.ContextName != "/shop" {
				t.Errorf("installed %+v", d)
			}
		}
	}
}

// TestInstallReportsFailedMember: a member whose OnInstall fails makes Install return a
// *channel.SendError naming it.
func TestInstallReportsFailedMember(t *testing.T) {
	ctx := context.Background()
	nw := channeltest.NewNetwork()
	a := startNode(t, nw, farm.Config{})
	b := startNode(t, nw, farm.Config{})
	tn := nw.NewNode()
	ch, err := channel.New(channel.Config{Transport: tn.Transport(), Membership: tn.Membership(), HeartbeatInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	channeltest.Start(t, ch)
	bad, err := farm.New(farm.Config{Channel: ch, DeployDir: t.TempDir(), TempDir: t.TempDir(),
		OnInstall: func(farm.Deployment) error { return errors.New("cannot start it") }})
	if err != nil {
		t.Fatal(err)
	}
	if err := bad.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = bad.Stop(ctx) }()
	err = a.d.Install(ctx, "/shop", writeFile(t, t.TempDir(), "shop.war", content(100, 0)))
	faulty := channel.FaultyMembers(err)
	if len(faulty) != 1 || faulty[0].Member.Key() != ch.LocalMember().Key() {
		t.Fatalf("Install: %v", err)
	}
	if _, err := os.Stat(filepath.Join(b.deploy, "shop.war")); err != nil {
		t.Errorf("the other member: %v", err)
	}
}

func TestConfigErrors(t *testing.T) {
	nw := channeltest.NewNetwork()
	for _, cfg := range []farm.Config{
		{DeployDir: t.TempDir()},
		{Channel: startNode(t, nw, farm.Config{}).ch},
		{Channel: startNode(t, nw, farm.Config{}).ch, DeployDir: filepath.Join(t.TempDir(), "missing")},
		{Channel: startNode(t, nw, farm.Config{}).ch, DeployDir: t.TempDir(), ChunkSize: 2 << 20, MaxChunkBytes: 1 << 20},
		{Channel: startNode(t, nw, farm.Config{}).ch, DeployDir: t.TempDir(), WatchPattern: "["},
	} {
		if _, err := farm.New(cfg); !errors.Is(err, channel.ErrInvalidConfig) {
			t.Errorf("New(%+v): %v", cfg, err)
		}
	}
}

// TestTwoSendersSameName: two members sending a file of the same name at once, their
// chunks interleaved, do not mix them: each file is assembled on its own and the one
// completed last is installed.
func TestTwoSendersSameName(t *testing.T) {
	nw := channeltest.NewNetwork()
	a, b, c := startNode(t, nw, farm.Config{}), startNode(t, nw, farm.Config{}), startNode(t, nw, farm.Config{})
	pa, pb := [][]byte{content(100, 1), content(100, 2)}, [][]byte{content(80, 3), content(80, 4)}
	for _, s := range []struct {
		from *node
		n    int
		part []byte
	}{{a, 1, pa[0]}, {b, 1, pb[0]}, {b, 2, pb[1]}, {a, 2, pa[1]}} {
		if err := send(t, s.from, c, &farm.FileMessage{Number: int32(s.n), Total: 2, Data: s.part, FileName: "x.war",
			ContextName: "/x"}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(filepath.Join(c.deploy, "x.war"))
	if want := bytes.Join(pa, nil); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("installed %d bytes (%v), want a's %d", len(got), err, len(want))
	}
	ins := c.installs()
	if len(ins) != 2 || ins[0].From.Key() != b.ch.LocalMember().Key() || ins[1].From.Key() != a.ch.LocalMember().Key() {
		t.Errorf("installs %+v", ins)
	}
	if st := c.d.Stats(); st.FilesReceived != 2 || st.Refused != 0 {
		t.Errorf("stats %+v", st)
	}
}

// lockedBuffer is a log destination for a test.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) lines() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return bytes.Count(l.b.Bytes(), []byte("\n"))
}

// TestRefusalsDoNotFloodTheLog: a member sending refused chunks in a loop costs a few
// log lines, not one per chunk; every one is counted.
func TestRefusalsDoNotFloodTheLog(t *testing.T) {
	nw := channeltest.NewNetwork()
	a := startNode(t, nw, farm.Config{})
	var log lockedBuffer
	b := startNode(t, nw, farm.Config{Logger: slog.New(slog.NewTextHandler(&log, nil))})
	bad, err := farm.AppendMessage(nil, &farm.FileMessage{Number: 1, Total: 1, FileName: "../x.war"})
	if err != nil {
		t.Fatal(err)
	}
	const n = 500
	for range n {
		if err := farm.Receive(b.d, &channel.Message{Source: a.ch.LocalMember(), Data: bad}); !errors.Is(err, farm.ErrBadName) {
			t.Fatal(err)
		}
		_ = farm.Receive(b.d, &channel.Message{Source: a.ch.LocalMember(), Data: []byte("garbage")})
	}
	if st := b.d.Stats(); st.Refused != 2*n {
		t.Errorf("refused %d, want %d", st.Refused, 2*n)
	}
	if lines := log.lines(); lines == 0 || lines > 10 {
		t.Errorf("%d log lines for %d refused messages", lines, 2*n)
	}
}

// After Stop, Install, Deploy and Remove return ErrStopped and send nothing; a second
// Stop is harmless.
func TestCallsAfterStop(t *testing.T) {
	ctx := context.Background()
	nw := channeltest.NewNetwork()
	a := startNode(t, nw, farm.Config{})
	b := startNode(t, nw, farm.Config{})
	if err := a.d.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.d.Stop(ctx); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	src := writeFile(t, t.TempDir(), "shop.war", content(100, 0))
	if err := a.d.Install(ctx, "/shop", src); !errors.Is(err, farm.ErrStopped) {
		t.Errorf("Install after Stop: %v", err)
	}
	if err := a.d.Deploy(ctx, src); !errors.Is(err, farm.ErrStopped) {
		t.Errorf("Deploy after Stop: %v", err)
	}
	if err := a.d.Remove(ctx, "/shop", true); !errors.Is(err, farm.ErrStopped) {
		t.Errorf("Remove after Stop: %v", err)
	}
	if got := entries(t, a.deploy); len(got) != 0 {
		t.Errorf("the stopped deployer's DeployDir holds %v", got)
	}
	if s := a.ch.Stats(); s.MessagesSent != 0 {
		t.Errorf("the stopped deployer sent %d messages", s.MessagesSent)
	}
	if got := b.installs(); len(got) != 0 {
		t.Errorf("the other member installed %v", got)
	}
}
