package channel_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/ratelog"
	"github.com/gotribes/tribes/internal/testutil"
)

// A transport that fails and recovers over and over (a stranger churning connections at
// the receiver's descriptor limit makes it) writes a few lines a minute, not two per
// cycle (before: 300 cycles, 600 lines; the target of such an attack wrote about half of
// its 283 KB of log in 6 s this way). Every event still reaches the listeners and Healthy.
func TestHealthFlappingLogBounded(t *testing.T) {
	ch, tr, logBuf := newHealthLogged(t)
	rec := &healthRecorder{}
	ch.AddMembershipListener(rec)
	startForTest(t, ch)
	const cycles = 300
	for i := range cycles {
		tr.report(fmt.Errorf("%w: accept failed %d", channel.ErrReceiverFailed, i))
		if ch.Healthy() {
			t.Fatalf("cycle %d: healthy after a failure", i)
		}
		tr.report(nil)
		if !ch.Healthy() {
			t.Fatalf("cycle %d: unhealthy after the recovery", i)
		}
	}
	rec.mu.Lock()
	events := len(rec.health)
	rec.mu.Unlock()
	if events != 2*cycles {
		t.Fatalf("%d health events for %d cycles, want %d", events, cycles, 2*cycles)
	}
	out := logBuf.String()
	failures, recoveries := strings.Count(out, "tribes channel unhealthy"), strings.Count(out, "tribes channel healthy again")
	if failures == 0 || recoveries == 0 || failures > ratelog.DefaultFirst || recoveries > ratelog.DefaultFirst {
		t.Fatalf("%d failure and %d recovery lines for %d cycles, want 1 to %d each:\n%s",
			failures, recoveries, cycles, ratelog.DefaultFirst, out)
	}
}

// A reporter that recovered never has "unhealthy" as the last line about it: a recovery
// is logged when its failure was. Before, the two lines were limited each on its own
// window: a failure logged at the start of a new window was followed by a recovery
// counted in the old one, and the log said the channel was unhealthy while Healthy was
// true. The clock of the limiter is the test's.
func TestHealthLastLineIsTheState(t *testing.T) {
	var now atomic.Int64
	t0 := time.Now()
	now.Store(t0.UnixNano())
	defer channel.SetRateLogClock(func() time.Time { return time.Unix(0, now.Load()) })()
	ch, tr, logBuf := newHealthLogged(t)
	startForTest(t, ch)
	fail := func() { tr.report(fmt.Errorf("%w: accept failed", channel.ErrReceiverFailed)) }
	// The failures' window opens at t0, the recoveries' 30 s later.
	fail()
	now.Store(t0.Add(30 * time.Second).UnixNano())
	tr.report(nil)
	for range 5 {
		fail()
		tr.report(nil)
	}
	// A minute after t0: the failures' window is new, the recoveries' is not.
	now.Store(t0.Add(61 * time.Second).UnixNano())
	fail()
	tr.report(nil)
	if !ch.Healthy() {
		t.Fatal("unhealthy after the recovery")
	}
	out := logBuf.String()
	fails, recs := strings.LastIndex(out, "tribes channel unhealthy"), strings.LastIndex(out, "tribes channel healthy again")
	if fails < 0 || recs < fails {
		t.Fatalf("the last line says the channel is unhealthy, after it recovered:\n%s", out)
	}
	if nf, nr := strings.Count(out, "tribes channel unhealthy"), strings.Count(out, "tribes channel healthy again"); nf != 4 || nr != nf {
		t.Fatalf("%d failure and %d recovery lines for 7 cycles in two windows; want 3+1 failures, each with its recovery:\n%s",
			nf, nr, out)
	}
}

// The failures the log kept back are counted in a line when the channel stops, even if no
// failure comes after the limiter's interval to report them. Before, the channel's
// limiter was never flushed: after a burst of failures the count was lost at Stop.
func TestHealthSuppressedCountLoggedAtStop(t *testing.T) {
	ch, tr, logBuf := newHealthLogged(t)
	if err := ch.Start(context.Background(), channel.SvcAll); err != nil {
		t.Fatal(err)
	}
	const cycles = 50
	for range cycles {
		tr.report(fmt.Errorf("%w: accept failed", channel.ErrReceiverFailed))
		tr.report(nil)
	}
	if err := ch.Stop(context.Background(), channel.SvcAll); err != nil {
		t.Fatal(err)
	}
	out := logBuf.String()
	want := fmt.Sprintf("kind=unhealthy suppressed=%d", cycles-ratelog.DefaultFirst)
	if !strings.Contains(out, want) {
		t.Fatalf("no %q line after Stop:\n%s", want, out)
	}
}

// newHealthLogged returns a channel, not started, on a healthTransport (whose report
// the test calls) that logs warnings and errors into logBuf.
func newHealthLogged(t *testing.T) (ch *channel.Channel, tr *healthTransport, logBuf *testutil.Buffer) {
	t.Helper()
	logBuf = &testutil.Buffer{}
	log := slog.New(slog.NewTextHandler(logBuf, &slog.HandlerOptions{Level: slog.LevelWarn}))
	n := channeltest.NewNetwork().NewNode()
	tr = &healthTransport{Transport: n.Transport()}
	ch, err := channel.New(channel.Config{Transport: tr, Membership: n.Membership(), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	return ch, tr, logBuf
}

// startForTest starts ch and stops it when the test ends.
func startForTest(t *testing.T, ch *channel.Channel) {
	t.Helper()
	if err := ch.Start(context.Background(), channel.SvcAll); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ch.Stop(context.Background(), channel.SvcAll) })
}
