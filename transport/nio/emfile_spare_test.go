package nio

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/testutil"
)

// spareChildEnv makes the test binary run spareChild instead of the tests.
const spareChildEnv = "TRIBES_NIO_SPARE_CHILD"

// EngineGoroutine sheds connections while descriptors are exhausted on a descriptor it
// holds in reserve. A receiver that could not take that reserve (descriptors ran out when
// it started, or another goroutine took the descriptor shed had freed) takes it again once
// an accept works: the next exhaustion still closes pending connections at once (counted
// in Stats.ConnsRefused), and the connections already open stay served. Before,
// the reserve was lost for the receiver's life and such connections waited in the
// kernel's backlog for as long as descriptors stayed exhausted. The receiver runs in a
// child process started with a single free descriptor (its listener's), so that its
// reserve cannot be opened.
func TestReceiverRetakesItsSpareDescriptor(t *testing.T) {
	if inDescriptorChild(t, spareChildEnv, spareChild) {
		return
	}
	s := startSpareRun(t, "TestReceiverRetakesItsSpareDescriptor")
	// Accept works: a member's acknowledged message gets its ACK.
	c := s.served()

	// Descriptors run out again: a new connection must be closed at once (shed), not
	// left waiting in the backlog.
	s.do("exhaust", "exhausted")
	c2, err := net.DialTimeout("tcp", s.addr, waitTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	_ = c2.SetReadDeadline(time.Now().Add(3 * time.Second))
	_, err = c2.Read(make([]byte, 1))
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("a connection made while descriptors were exhausted was still open after 3 s: the receiver had no reserve descriptor to shed it on")
	}
	if err == nil {
		t.Fatal("read a byte from a shed connection")
	}
	if !errors.Is(err, io.EOF) && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("read on the shed connection: %v", err)
	}
	// The connection opened before stays open and served while descriptors are exhausted.
	if _, err := c.Write(frame(s.srcBytes, channel.OptUseAck|channel.OptSyncAck, []byte("still here"))); err != nil {
		t.Fatalf("write on the connection opened before the exhaustion: %v", err)
	}
	readAcks(t, c, 1)
	// The shed connection is counted as refused (Stats.ConnsRefused).
	if refused, _ := strconv.Atoi(strings.TrimSpace(s.do("free", "freed"))); refused < 1 {
		t.Fatalf("Stats.ConnsRefused %d after a connection was shed, want at least 1", refused)
	}
}

// inDescriptorChild runs child, which exits the process, when env is "1" (this process is
// the child a test started) and then reports true; otherwise it skips the test where the
// descriptor limit cannot be lowered, and reports false: the test runs.
func inDescriptorChild(t *testing.T, env string, child func()) bool {
	t.Helper()
	if os.Getenv(env) == "1" {
		child()
		return true
	}
	if !canLowerDescriptorLimit {
		t.Skip("lowers the descriptor limit (RLIMIT_NOFILE), which only Unix systems have")
	}
	return false
}

// startChild starts the test binary running test in a child process with env added to
// its environment (the test must then run its child), and returns its stdin, where the
// test writes commands, and expect, which returns the rest of the child's next line that
// starts with prefix; the lines it passes over are logged and kept for later calls (a
// receiver's report may come before the line the test waits for), and a line starting
// with "error" fails the test. The child exits when the test ends.
func startChild(t *testing.T, test string, env ...string) (stdin io.WriteCloser, expect func(prefix string) string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+test+"$")
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 64)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	t.Cleanup(func() {
		_ = stdin.Close()
		if err := cmd.Wait(); err != nil {
			t.Errorf("child: %v", err)
		}
	})
	var passed []string
	expect = func(prefix string) string {
		t.Helper()
		for i, l := range passed {
			if strings.HasPrefix(l, prefix) {
				passed = slices.Delete(passed, i, i+1)
				return strings.TrimPrefix(l, prefix)
			}
		}
		deadline := time.After(waitTimeout)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("child exited before %q", prefix)
				}
				t.Logf("child: %s", l)
				if strings.HasPrefix(l, "error") {
					t.Fatalf("child: %s", l)
				}
				if strings.HasPrefix(l, prefix) {
					return strings.TrimPrefix(l, prefix)
				}
				passed = append(passed, l)
			case <-deadline:
				t.Fatalf("timed out waiting for %q from the child", prefix)
			}
		}
	}
	return stdin, expect
}

// spareRun is a spareChild a test started (startSpareRun), its descriptors freed.
type spareRun struct {
	t        *testing.T
	stdin    io.WriteCloser
	expect   func(prefix string) string
	addr     string // the child's receiver
	srcBytes []byte // the sender member of the frames the test writes
}

// startSpareRun starts spareChild for test (which must call spareChild when
// spareChildEnv is set) and frees its descriptors ("free").
func startSpareRun(t *testing.T, test string) *spareRun {
	t.Helper()
	stdin, expect := startChild(t, test, spareChildEnv+"=1")
	port, _ := strconv.Atoi(expect("port "))
	src := channel.Member{Host: []byte{127, 0, 0, 1}, Port: 1, SecurePort: -1, UDPPort: -1}
	srcBytes, _ := src.MarshalBinary()
	s := &spareRun{t: t, stdin: stdin, expect: expect, addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), srcBytes: srcBytes}
	s.do("free", "freed")
	return s
}

// do writes cmd to the child and returns the rest of its reply, the line starting with
// reply.
func (s *spareRun) do(cmd, reply string) string {
	s.t.Helper()
	fmt.Fprintln(s.stdin, cmd)
	return s.expect(reply)
}

// health returns what the child's "health" says: whether the last report was a
// recovery, Stats.ReceiverFailures, ReceiverRestarts and ConnsRefused.
func (s *spareRun) health() (healthy bool, failures, restarts, refused int) {
	s.t.Helper()
	if _, err := fmt.Sscan(s.do("health", "health "), &healthy, &failures, &restarts, &refused); err != nil {
		s.t.Fatal(err)
	}
	return healthy, failures, restarts, refused
}

// served dials the child, writes a member's acknowledged message and reads its ACK; the
// connection stays open until the test ends or the caller closes it.
func (s *spareRun) served() net.Conn {
	s.t.Helper()
	c, err := net.DialTimeout("tcp", s.addr, waitTimeout)
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(func() { _ = c.Close() })
	if _, err := c.Write(frame(s.srcBytes, channel.OptUseAck|channel.OptSyncAck, []byte("hello"))); err != nil {
		s.t.Fatal(err)
	}
	readAcks(s.t, c, 1)
	return c
}

// shed dials the child, whose descriptors are exhausted, and expects the connection
// closed at once (shed on its spare descriptor).
func (s *spareRun) shed() {
	s.t.Helper()
	c, err := net.DialTimeout("tcp", s.addr, waitTimeout)
	if err != nil {
		s.t.Fatal(err)
	}
	expectClosed(s.t, c)
}

// failingAfterAShed serves a first connection (the receiver takes the reserve descriptor
// the child left it no room for at start), exhausts the descriptors, expects the next
// connection shed and the failure reported and not ended.
func (s *spareRun) failingAfterAShed() {
	s.t.Helper()
	s.served()
	s.do("exhaust", "exhausted")
	s.shed() // accept failed on the exhausted descriptors
	if healthy, failures, restarts, _ := s.health(); healthy || failures != restarts+1 {
		s.t.Fatalf("after a connection was shed: healthy %t, %d failures, %d restarts; want false, a failure not ended",
			healthy, failures, restarts)
	}
}

// recoveredWithoutANewConnection waits for the child to report the recovery, no
// connection being made, and expects every failure ended.
func (s *spareRun) recoveredWithoutANewConnection(what string) {
	s.t.Helper()
	testutil.EventuallyTrue(s.t, waitTimeout, what, func() bool {
		healthy, _, _, _ := s.health()
		return healthy
	})
	if _, failures, restarts, _ := s.health(); failures != restarts {
		s.t.Fatalf("stats: %d failures, %d restarts; want every failure ended", failures, restarts)
	}
}

// spareChild runs the receiver of TestReceiverRetakesItsSpareDescriptor: it takes every
// descriptor under a lowered RLIMIT_NOFILE but one, starts EngineGoroutine's receiver on
// it, and then frees ("free") or takes again ("exhaust") every descriptor as told on
// stdin, raises RLIMIT_NOFILE ("raise"), or says whether the last health report was a recovery ("health": "health
// <healthy> <Stats.ReceiverFailures> <Stats.ReceiverRestarts> <Stats.ConnsRefused>"). It
// exits when stdin
// closes.
func spareChild() {
	say := func(format string, args ...any) { fmt.Fprintf(os.Stdout, format+"\n", args...) }
	fail := func(format string, args ...any) {
		say("error "+format, args...)
		os.Exit(1)
	}
	// The network poller's own descriptors are opened with the first socket.
	if ln, err := net.Listen("tcp", "127.0.0.1:0"); err == nil {
		_ = ln.Close()
	}
	if err := lowerDescriptorLimit(); err != nil {
		fail("%v", err)
	}
	var hog []*os.File
	exhaust := func() {
		for {
			f, err := os.Open(os.DevNull)
			if err != nil {
				if !errors.Is(err, syscall.EMFILE) {
					fail("%v", err)
				}
				return
			}
			hog = append(hog, f)
		}
	}
	free := func() {
		for _, f := range hog {
			_ = f.Close()
		}
		hog = nil
	}
	exhaust()
	if len(hog) == 0 {
		fail("no descriptor to take")
	}
	_ = hog[len(hog)-1].Close() // the listener's
	hog = hog[:len(hog)-1]

	cfg := testConfig()
	cfg.Engine = EngineGoroutine
	cfg.Logger = nil
	tr, err := New(cfg)
	if err != nil {
		fail("%v", err)
	}
	var healthy atomic.Bool // as the channel would tell it: the last report
	healthy.Store(true)
	tr.SetHealthFunc(func(err error) { healthy.Store(err == nil) })
	if err := tr.Start(context.Background(), channel.SvcReceiver, func(*channel.Message) error { return nil }); err != nil {
		fail("start: %v", err)
	}
	say("port %d", tr.LocalAddress().Port)
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		switch in.Text() {
		case "free":
			free()
			say("freed %d", tr.Stats().ConnsRefused)
		case "exhaust":
			exhaust()
			say("exhausted")
		case "raise":
			if err := raiseDescriptorLimit(); err != nil {
				fail("raise: %v", err)
			}
			say("raised")
		case "health":
			st := tr.Stats()
			say("health %t %d %d %d", healthy.Load(), st.ReceiverFailures, st.ReceiverRestarts, st.ConnsRefused)
		}
	}
	free()
	_ = tr.Stop(context.Background(), channel.SvcAll)
	os.Exit(0)
}

// A receiver whose descriptors ran out reports the recovery once they are free again,
// whether or not a connection arrives then. Before, only the next accept that worked
// ended the failure: a node whose last accept failed (an attack of connections that
// ended, members keeping their pooled connections open) stayed reported failing,
// Channel.Healthy false and its health endpoint down, until some peer next connected.
// The child exhausts its descriptors, a connection is shed (the failure), the
// descriptors are freed, and no connection is made after that (the first one, served
// before, stays open).
func TestReceiverReportsTheRecoveryWithoutANewConnection(t *testing.T) {
	if inDescriptorChild(t, spareChildEnv, spareChild) {
		return
	}
	s := startSpareRun(t, "TestReceiverReportsTheRecoveryWithoutANewConnection")
	s.failingAfterAShed()
	s.do("free", "freed")
	s.recoveredWithoutANewConnection("the recovery reported with no new connection")
}

// While a run of exhausted descriptors goes on, the accept loop waits for connections
// with a deadline (probeEvery) to check whether the run ended; a connection that arrives
// then is still shed at once on the spare descriptor, as the first one of the run was,
// and the probe that finds no descriptor free leaves the run going: one failure, no
// restart, until the descriptors are freed.
func TestReceiverShedsWhileItWaitsForTheRunToEnd(t *testing.T) {
	if inDescriptorChild(t, spareChildEnv, spareChild) {
		return
	}
	s := startSpareRun(t, "TestReceiverShedsWhileItWaitsForTheRunToEnd")
	s.served() // the receiver takes the reserve the child left it no room for
	// Accept failed at start on the child's full table (Linux fails it whether or not a
	// connection is pending): that run ended with the first connection.
	healthy, f0, r0, refused0 := s.health()
	if !healthy || f0 != r0 {
		t.Fatalf("after a connection was served: healthy %t, %d failures, %d restarts; want true, every failure ended", healthy, f0, r0)
	}

	s.do("exhaust", "exhausted")
	const sheds = 4
	for i := range sheds {
		s.shed()
		healthy, failures, restarts, refused := s.health()
		if healthy || failures != f0+1 || restarts != r0 || refused != refused0+i+1 {
			t.Fatalf("after %d connections shed: healthy %t, %d failures, %d restarts, %d refused; want false, %d, %d, %d",
				i+1, healthy, failures, restarts, refused, f0+1, r0, refused0+i+1)
		}
	}
	s.do("free", "freed")
	testutil.EventuallyTrue(t, waitTimeout, "the recovery reported with no new connection", func() bool {
		healthy, _, _, _ := s.health()
		return healthy
	})
	if _, failures, restarts, _ := s.health(); failures != f0+1 || restarts != r0+1 {
		t.Fatalf("stats: %d failures, %d restarts; want %d each", failures, restarts, f0+1)
	}
	_ = s.served().Close()
}

// A run of exhausted descriptors also ends when the limit is raised at run time, the
// descriptors held staying open: the probe opens one beside the reserve under the new
// limit, and the recovery is reported with no new connection.
func TestReceiverRecoversWhenTheLimitIsRaised(t *testing.T) {
	if inDescriptorChild(t, spareChildEnv, spareChild) {
		return
	}
	if !canRaiseDescriptorLimit() {
		t.Skip("the hard descriptor limit leaves no room above the child's 256")
	}
	s := startSpareRun(t, "TestReceiverRecoversWhenTheLimitIsRaised")
	s.failingAfterAShed()
	s.do("raise", "raised")
	s.recoveredWithoutANewConnection("the recovery reported once the limit was raised")
}
