package staticsvc

import (
	"context"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/wire"
)

// refused is what a dial of a port nothing listens on returns.
var refused = &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}

// TestWatchRefusedDialsEveryInterval: the check of a STOP dials the member every
// stopDialInterval (100 ms) while it waits for the PING's answer, and ends the wait at the
// first refusal: a connection made or a timeout is tried again, and a watch whose wait
// ended without a refusal does not end it. On a fake clock (synctest): the dials come at
// 100, 200, 300 and 400 ms exactly, and the fourth, refused, cancels.
func TestWatchRefusedDialsEveryInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		var at []time.Duration
		answers := []error{nil, &net.OpError{Op: "dial", Net: "tcp", Err: os.ErrDeadlineExceeded}, nil, refused}
		dial := func(_ context.Context, addr string) error {
			if addr != "127.0.0.1:4000" {
				t.Errorf("dialled %q", addr)
			}
			at = append(at, time.Since(start))
			return answers[min(len(at), len(answers))-1]
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		watchRefused(ctx, "127.0.0.1:4000", dial, cancel)
		if ctx.Err() == nil {
			t.Fatal("the refusal did not end the wait")
		}
		if len(at) != len(answers) {
			t.Fatalf("%d dials, want %d (the last one refused): at %v", len(at), len(answers), at)
		}
		for i, d := range at {
			if want := time.Duration(i+1) * stopDialInterval; d != want {
				t.Errorf("dial %d at %v, want %v", i+1, d, want)
			}
		}

		// Never refused: the watch dials until its wait ends, and does not end it.
		at, answers = nil, []error{nil}
		wait, stop := context.WithTimeout(context.Background(), 10*stopDialInterval-stopDialInterval/2)
		defer stop()
		var cancelled atomic.Bool
		watchRefused(wait, "127.0.0.1:4000", dial, func() { cancelled.Store(true) })
		if cancelled.Load() {
			t.Error("a member whose port accepts had its wait ended")
		}
		if len(at) != 9 {
			t.Errorf("%d dials in 950 ms, want 9 (one each %v)", len(at), stopDialInterval)
		}
	})
}

// TestWatchRefusedSeesARealRefusal: the service's watch, on real sockets, keeps dialling
// a member whose port accepts (its connections close at once) and ends the check's wait
// once that port refuses connections (its listener closed: a stopped node).
func TestWatchRefusedSeesARealRefusal(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var accepted atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			_ = c.Close()
		}
	}()
	target, err := wire.ParseMemberText(ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.watchRefused(ctx, target, cancel)
	}()
	testutil.EventuallyTrue(t, testutil.WaitLimit, "two dials of the accepting port", func() bool { return accepted.Load() >= 2 })
	if ctx.Err() != nil {
		t.Fatal("the wait ended while the port accepted connections")
	}
	_ = ln.Close()
	select {
	case <-done:
	case <-time.After(testutil.WaitLimit):
		t.Fatalf("the watch did not end within %v of the port refusing connections", testutil.WaitLimit)
	}
	if ctx.Err() == nil {
		t.Fatal("the watch ended without ending the wait")
	}
}

// TestRefutedStopLogRateLimited: a stranger sending STOPs naming a live member without
// end, every 100 ms for ten minutes of a fake clock (synctest), costs that member one
// PING a second (stopCheckGap), each refuting the STOP (Stats.StopsRefuted), and the
// log of the refutations is rate-limited per member (internal/ratelog's defaults: 3
// lines a minute, then a summary of those counted): about 4 lines a minute, not one a
// second.
func TestRefutedStopLogRateLimited(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var out testutil.Buffer
		s, err := New(Config{Logger: slog.New(slog.NewTextHandler(&out, nil))})
		if err != nil {
			t.Fatal(err)
		}
		target, err := wire.ParseMemberText("127.0.0.1:4001:15ddf6a6977d4c619ac2137b358d5600")
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		r := &runState{ctx: ctx, cancel: cancel}
		var pings atomic.Int64
		s.checkPing = func(_ *runState, m channel.Member) bool {
			if m.Key() != target.Key() {
				t.Errorf("the check pinged %v, want %v", m, target)
			}
			pings.Add(1)
			return true
		}
		s.mu.Lock()
		s.run = r
		s.view[target.Key()] = &entry{m: target, heard: time.Now()}
		s.mu.Unlock()

		const minutes = 10
		stop := target.Clone()
		stop.Command = wire.ShutdownCommand
		for end := time.Now().Add(minutes * time.Minute); time.Now().Before(end); {
			s.stopReceived(stop)
			time.Sleep(100 * time.Millisecond)
		}
		cancel()
		r.checks.Wait()

		n := pings.Load()
		if got := s.Stats().StopsRefuted; got != uint64(n) {
			t.Errorf("StopsRefuted %d, want %d (every check refuted)", got, n)
		}
		if n < minutes*60-1 || n > minutes*60+1 {
			t.Errorf("%d PINGs in %d minutes of STOPs every 100 ms, want one a second (%d)", n, minutes, minutes*60)
		}
		if _, ok := s.Member(target.Key()); !ok {
			t.Error("the member was dropped")
		}
		var refutations, summaries int
		for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
			switch {
			case strings.Contains(l, "ignoring a MSG_STOP"):
				refutations++
			case strings.Contains(l, "repeated error lines were not logged") && strings.Contains(l, "kind=\"stop refuted\""):
				summaries++
			}
		}
		t.Logf("%d refutations: %d lines, %d summaries", n, refutations, summaries)
		// 3 lines in each minute's window, each window after the first opened by a
		// summary of the one before. A refutation at the last instant may open an
		// eleventh window (the checks and this loop wake at the same instants, in either
		// order), and one at the first instant missed may leave ten windows in all.
		if refutations < 3*minutes || refutations > 3*(minutes+1) {
			t.Errorf("%d lines of refuted STOPs in %d minutes, want %d to %d (3 a minute)", refutations, minutes, 3*minutes, 3*(minutes+1))
		}
		if summaries < minutes-1 || summaries > minutes+1 {
			t.Errorf("%d summaries of refuted STOPs in %d minutes, want %d to %d (one a minute)", summaries, minutes, minutes-1, minutes+1)
		}
	})
}
