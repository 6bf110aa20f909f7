package nio

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/testutil"
)

// probeListener is a TCP listener whose next fail Accepts take the pending connection,
// close it and fail with errno, as the kernel cannot be made to on demand. Unlike the
// other test listeners it has SetDeadline, so the accept loop's wait for the end of a
// run (probeEvery) runs; timeouts counts the Accepts that ended on that deadline.
type probeListener struct {
	*net.TCPListener
	errno    syscall.Errno
	fail     atomic.Int32
	timeouts atomic.Int32
}

func (l *probeListener) Accept() (net.Conn, error) {
	c, err := l.TCPListener.Accept()
	if errors.Is(err, os.ErrDeadlineExceeded) {
		l.timeouts.Add(1)
	}
	if err != nil {
		return c, err
	}
	if l.fail.Add(-1) < 0 {
		l.fail.Store(0)
		return c, nil
	}
	_ = c.Close()
	return nil, &net.OpError{Op: "accept", Net: "tcp", Addr: l.Addr(), Err: os.NewSyscallError("accept4", l.errno)}
}

// startProbed starts EngineGoroutine's receiver on a probeListener failing with errno
// and returns it, the node to dial and the channel of its health reports.
func startProbed(t *testing.T, errno syscall.Errno, log *slog.Logger) (*Transport, *probeListener, *node, chan error) {
	t.Helper()
	var ln *probeListener
	wrapListener = func(inner net.Listener) net.Listener {
		ln = &probeListener{TCPListener: inner.(*net.TCPListener), errno: errno}
		return ln
	}
	defer func() { wrapListener = nil }()
	cfg := testConfig()
	cfg.Engine = EngineGoroutine
	cfg.Logger = log
	tr, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	reports := make(chan error, 100)
	tr.SetHealthFunc(func(err error) { reports <- err })
	if err := tr.Start(context.Background(), channel.SvcTransport, func(*channel.Message) error { return nil }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tr.Stop(context.Background(), channel.SvcTransport) })
	return tr, ln, &node{t: tr, member: memberOf(tr)}, reports
}

// failRun makes the receiver's next two accepts fail: the connection the first took is
// closed, and so is the next one, taken by the shed (if it came within shedWait) or by
// the accept loop, failing again; the failure is reported once.
func failRun(t *testing.T, ln *probeListener, n *node, reports chan error) {
	t.Helper()
	ln.fail.Store(2)
	expectClosed(t, dialRaw(t, n)) // the accept that failed took it
	expectClosed(t, dialRaw(t, n)) // the next accept, failing too
	select {
	case err := <-reports:
		if !errors.Is(err, channel.ErrReceiverFailed) {
			t.Fatalf("health report %v, want a failure", err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("no failure reported")
	}
}

// A run of accepts that failed on exhausted socket memory (ENOBUFS, ENOMEM) is not ended
// by the check that a descriptor opens beside the spare, which says nothing of memory:
// it ends at the next accept that works. Before, the first probeEvery with no
// connection reported the recovery while memory was still short, and a node whose
// accepts kept failing that way was reported failing and recovered every 500 ms. A run
// of EMFILE or ENFILE still ends with no new connection once a descriptor is free (in
// this process, at once).
func TestAcceptMemoryRunEndsOnlyAtAnAccept(t *testing.T) {
	for _, errno := range []syscall.Errno{syscall.ENOMEM, syscall.ENOBUFS, syscall.EMFILE, syscall.ENFILE} {
		t.Run(errno.Error(), func(t *testing.T) {
			tr, ln, n, reports := startProbed(t, errno, nil)
			failRun(t, ln, n, reports)
			if descriptorsExhausted(errno) {
				select {
				case err := <-reports:
					if err != nil {
						t.Fatalf("health report %v, want the recovery", err)
					}
				case <-time.After(waitTimeout):
					t.Fatal("the end of a run of exhausted descriptors was not reported with no new connection")
				}
				return
			}
			// Two Accepts ended on the deadline (the loop handled the first one), or a
			// report came.
			testutil.EventuallyTrue(t, waitTimeout, "two accept deadlines passed", func() bool {
				return ln.timeouts.Load() >= 2 || len(reports) > 0
			})
			select {
			case err := <-reports:
				t.Fatalf("health report %v after %d accept deadlines with no connection; want none", err, ln.timeouts.Load())
			default:
			}
			if st := tr.Stats(); st.ReceiverRestarts != 0 {
				t.Fatalf("%d restarts with no accept that worked; want 0", st.ReceiverRestarts)
			}
			src := channel.Member{Host: []byte{127, 0, 0, 1}, Port: 1, SecurePort: -1, UDPPort: -1}
			srcBytes, _ := src.MarshalBinary()
			c := dialRaw(t, n)
			if _, err := c.Write(frame(srcBytes, channel.OptUseAck|channel.OptSyncAck, []byte("hello"))); err != nil {
				t.Fatal(err)
			}
			readAcks(t, c, 1)
			select {
			case err := <-reports:
				if err != nil {
					t.Fatalf("health report %v, want the recovery", err)
				}
			case <-time.After(waitTimeout):
				t.Fatal("no recovery reported after an accept that worked")
			}
			if st := tr.Stats(); st.ReceiverFailures != 1 || st.ReceiverRestarts != 1 {
				t.Fatalf("stats: %d failures, %d restarts; want 1 each", st.ReceiverFailures, st.ReceiverRestarts)
			}
		})
	}
}

// Stop ends a failing receiver whose accept loop waits on its listener's deadline for
// the end of the run: it returns (its context would end otherwise), and no goroutine is
// left (goleak, TestMain). ENOMEM keeps the run going across the deadlines.
func TestStopWhileTheAcceptLoopWaitsForTheRunToEnd(t *testing.T) {
	tr, ln, n, reports := startProbed(t, syscall.ENOMEM, nil)
	failRun(t, ln, n, reports)
	testutil.EventuallyTrue(t, waitTimeout, "an accept deadline passed", func() bool { return ln.timeouts.Load() >= 1 })
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := tr.Stop(ctx, channel.SvcTransport); err != nil {
		t.Fatalf("stop of a failing receiver: %v", err)
	}
	if _, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(int(n.member.Port))), waitTimeout); err == nil {
		t.Fatal("the listener still accepts after Stop")
	}
}

// The rate-limited lines of exhaustion runs never leave a failure as the last word on a
// run that ended: a run whose failure was logged has its end logged too. Before, the
// failure and the recovery lines were limited each on its own window: a failure logged
// at the start of a new window was followed by a recovery counted in the old one, and
// the log said the receiver could not accept while it had recovered (and Channel.Healthy
// said so). The clock of the limiter is the test's.
func TestAcceptExhaustionLastLineIsTheState(t *testing.T) {
	var now atomic.Int64
	t0 := time.Now()
	now.Store(t0.UnixNano())
	plogNow = func() time.Time { return time.Unix(0, now.Load()) }
	defer func() { plogNow = nil }()
	var logBuf testutil.Buffer
	tr, ln, n, reports := startProbed(t, syscall.ENOMEM, slog.New(slog.NewTextHandler(&logBuf, &slog.HandlerOptions{Level: slog.LevelWarn})))
	src := channel.Member{Host: []byte{127, 0, 0, 1}, Port: 1, SecurePort: -1, UDPPort: -1}
	srcBytes, _ := src.MarshalBinary()
	recoverRun := func() {
		t.Helper()
		// A shed under way (it waits shedWait for a connection) would take this
		// connection: wait for the next accept deadline to pass, the shed's or the loop's.
		seen := ln.timeouts.Load()
		testutil.EventuallyTrue(t, waitTimeout, "an accept deadline passed", func() bool { return ln.timeouts.Load() > seen })
		c := dialRaw(t, n)
		if _, err := c.Write(frame(srcBytes, channel.OptUseAck|channel.OptSyncAck, []byte("hello"))); err != nil {
			t.Fatal(err)
		}
		readAcks(t, c, 1)
		_ = c.Close()
		select {
		case err := <-reports:
			if err != nil {
				t.Fatalf("health report %v, want the recovery", err)
			}
		case <-time.After(waitTimeout):
			t.Fatal("no recovery reported")
		}
	}
	// The failures' window opens at t0, the recoveries' 30 s later.
	failRun(t, ln, n, reports)
	now.Store(t0.Add(30 * time.Second).UnixNano())
	recoverRun()
	for range 5 {
		failRun(t, ln, n, reports)
		recoverRun()
	}
	// A minute after t0: the failures' window is new, the recoveries' is not.
	now.Store(t0.Add(61 * time.Second).UnixNano())
	failRun(t, ln, n, reports)
	recoverRun()
	out := logBuf.String()
	fail, rec := strings.LastIndex(out, "cannot accept connections"), strings.LastIndex(out, "accepting connections again")
	if fail < 0 || rec < fail {
		t.Fatalf("the last line of the receiver's state says it cannot accept, after it recovered:\n%s", out)
	}
	if st := tr.Stats(); st.ReceiverFailures != 7 || st.ReceiverRestarts != 7 {
		t.Fatalf("stats: %d failures, %d restarts; want 7 each", st.ReceiverFailures, st.ReceiverRestarts)
	}
	if fails, recs := strings.Count(out, "cannot accept connections"), strings.Count(out, "accepting connections again"); fails != 4 || recs != fails {
		t.Fatalf("%d failure and %d recovery lines for 7 runs in two windows; want 3+1 failures, each with its recovery:\n%s",
			fails, recs, out)
	}
	if !strings.Contains(out, "suppressed=3") {
		t.Fatalf("the new window's first failure line does not say 3 were counted:\n%s", out)
	}
}

// shed, called by the accept loop when accept failed on exhausted descriptors, finds no
// connection pending when the kernel failed accept on a full table with none (Linux
// allocates the descriptor first): it gives up after shedWait with its spare descriptor
// held again, and the connection that comes next is not taken and closed by it. Before,
// shed's accept waited up to the accept loop's deadline (probeEvery, 500 ms) or, at the
// first failure of a run, with no deadline, until the next peer connected: the spare was
// released all that time for any goroutine to take, and that peer's connection was
// closed even when the descriptors had been freed meanwhile.
func TestShedWaitsBriefly(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	spare, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	np := &netpoll{r: &receiver{st: &counters{}}, ln: ln, spare: spare}
	defer func() {
		if np.spare != nil {
			_ = np.spare.Close()
		}
	}()
	shed := make(chan bool, 1)
	go func() { shed <- np.shed() }()
	select {
	case ok := <-shed:
		if ok {
			t.Fatal("shed reports a connection shed with none pending")
		}
	case <-time.After(waitTimeout):
		// Let shed's accept end: it takes this connection.
		c, err := net.Dial("tcp", ln.Addr().String())
		if err == nil {
			defer c.Close()
		}
		<-shed
		t.Fatalf("shed still waited for a connection after %v with none pending", waitTimeout)
	}
	if np.spare == nil {
		t.Fatal("shed did not take its spare descriptor back")
	}
	if st := np.r.st; st.connsRefused.Load() != 0 || st.connsAccepted.Load() != 0 {
		t.Fatalf("shed counted %d refused, %d accepted with none pending", st.connsRefused.Load(), st.connsAccepted.Load())
	}
	// The next connection is the listener's, not shed's.
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = ln.(*net.TCPListener).SetDeadline(time.Time{})
	s, err := ln.Accept()
	if err != nil {
		t.Fatalf("the connection after shed gave up: %v", err)
	}
	_ = s.Close()
}
