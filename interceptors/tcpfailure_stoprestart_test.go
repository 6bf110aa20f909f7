package interceptors

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
)

// TestFailureDetectorStartWhileAStopsRemovalStillGoesUp: a Stop returned at its ctx
// while a membership listener held the removal it passed through (B's, reported by the
// stopping membership); the channel is started again before that listener returns. The
// Start does not wait for the Stop's delivery goroutine held in the listener, and the
// new run's announcement of B goes up behind the old removal, once the listener
// returned: the listeners see +B -B +B, never +B before -B, nothing twice, and the
// channel stops cleanly afterwards (goleak, in TestMain).
func TestFailureDetectorStartWhileAStopsRemovalStillGoesUp(t *testing.T) {
	hold, entered, open := holdOnce()
	t.Cleanup(open)
	alive := newAliveSet()
	d := newTestDetector(alive)
	nw := channeltest.NewNetwork()
	a := mbNew(t, nw, mbOpt{id: 1}, &holdGone{hold: func(channel.Member) { hold() }}, d)
	b := mbNew(t, nw, mbOpt{id: 2})
	alive.set(b.port(), true)
	mbStart(t, a, b)
	pb := fmt.Sprint(b.port())
	testutil.EventuallyTrue(t, testutil.WaitLimit, "B announced", func() bool {
		return d.Settled() && len(a.evs()) == 1
	})
	err := returnsWithin(t, "Stop", open, func() error {
		return a.ch.Stop(within(t, 100*time.Millisecond), channel.SvcAll)
	})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Stop with a removal's listener held: %v, want context.DeadlineExceeded", err)
	}
	waitClosed(t, entered, "B's removal did not go up")
	if err := returnsWithin(t, "Start", open, func() error {
		return a.ch.Start(within(t, testutil.WaitLimit), channel.SvcAll)
	}); err != nil {
		t.Fatalf("Start while the old removal's listener is held: %v", err)
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "the new run's +B queued behind -B", func() bool {
		ev, _ := d.queuedEvents()
		return ev > 0
	})
	if got := a.evs(); len(got) != 1 {
		t.Fatalf("events while the removal's listener is held: %v, want [+%s]", got, pb)
	}
	open()
	testutil.EventuallyTrue(t, testutil.WaitLimit, "the removal and the new announcement went up", func() bool {
		return d.Settled() && len(a.evs()) >= 3
	})
	mbWantEvents(t, a, "+"+pb, "-"+pb, "+"+pb)
	if err := a.ch.Stop(within(t, testutil.WaitLimit), channel.SvcAll); err != nil {
		t.Fatalf("Stop once the listener returned: %v", err)
	}
	mbWantEvents(t, a, "+"+pb, "-"+pb, "+"+pb, "-"+pb)
	if err := a.ch.Start(within(t, testutil.WaitLimit), channel.SvcAll); err != nil {
		t.Fatalf("Start again: %v", err)
	}
}

// failStartOnce is a layer whose Start, once armed, starts the layers below and then
// waits for gate and fails.
type failStartOnce struct {
	channel.InterceptorBase
	armed atomic.Bool
	gate  chan struct{}
}

func (f *failStartOnce) Start(ctx context.Context, svc channel.Service) error {
	if err := f.Next().Start(ctx, svc); err != nil {
		return err
	}
	if f.armed.CompareAndSwap(true, false) {
		<-f.gate
		return errStartOnce
	}
	return nil
}

// TestFailureDetectorFailedStartsUndoContendedWhileAListenerBlocks: a Start that failed
// below the detector after B became a suspect (dropped below, still answering) reports B
// gone in its undo, from the undo's own goroutine; a membership listener holds that
// removal, and another goroutine's Stop waits for the failed Start. The undo stops
// waiting once that Stop waits (channel.LifecycleContended) instead of holding it for the
// undo's 5 seconds: the failed Start returns its error (not the undo's deadline), the
// Stop returns nil, B's removal goes up once, after the listener returned, and the
// channel starts and stops again with B's events in order.
func TestFailureDetectorFailedStartsUndoContendedWhileAListenerBlocks(t *testing.T) {
	hold, entered, open := holdOnce()
	t.Cleanup(open)
	alive := newAliveSet()
	d := newTestDetector(alive)
	f := &failStartOnce{gate: make(chan struct{})}
	f.armed.Store(true)
	failNow := sync.OnceFunc(func() { close(f.gate) })
	t.Cleanup(failNow)
	nw := channeltest.NewNetwork()
	a := mbNew(t, nw, mbOpt{id: 1}, &holdGone{hold: func(channel.Member) { hold() }}, d, f)
	b := mbNew(t, nw, mbOpt{id: 2})
	alive.set(b.port(), true)
	mbStart(t, b)
	pb := fmt.Sprint(b.port())
	started := make(chan error, 1)
	go func() { started <- a.ch.Start(context.Background(), channel.SvcAll) }()
	testutil.EventuallyTrue(t, testutil.WaitLimit, "B announced", func() bool {
		return d.Settled() && len(a.evs()) == 1
	})
	nw.Partition(a.net, b.net) // dropped below; B still answers: a suspect
	testutil.EventuallyTrue(t, testutil.WaitLimit, "B kept as a suspect", func() bool {
		return d.Settled() && d.Stats().Suspects == 1
	})
	failNow()
	waitClosed(t, entered, "the failed Start's undo did not report its suspect gone")
	stopped := make(chan error, 1)
	go func() { stopped <- a.ch.Stop(within(t, 2*testutil.WaitLimit), channel.SvcAll) }()
	select {
	case err := <-started:
		if !errors.Is(err, errStartOnce) || errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("failed Start = %v, want its error only", err)
		}
	case <-time.After(testutil.WaitLimit):
		open()
		t.Fatal("the failed Start still waits for the listener while a Stop waits for it")
	}
	select {
	case err := <-stopped:
		if err != nil {
			t.Fatalf("Stop waiting for the failed Start = %v, want nil", err)
		}
	case <-time.After(testutil.WaitLimit):
		open()
		t.Fatal("the Stop waiting for the failed Start did not return")
	}
	if got := a.evs(); len(got) != 1 {
		t.Fatalf("events while the removal's listener is held: %v, want [+%s]", got, pb)
	}
	open()
	testutil.EventuallyTrue(t, testutil.WaitLimit, "B's removal went up", func() bool {
		return d.Settled() && len(a.evs()) >= 2
	})
	mbWantEvents(t, a, "+"+pb, "-"+pb)
	nw.Heal(a.net, b.net)
	if err := a.ch.Start(within(t, testutil.WaitLimit), channel.SvcAll); err != nil {
		t.Fatalf("Start once the listener returned: %v", err)
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "B announced again", func() bool {
		return d.Settled() && len(a.evs()) >= 3
	})
	if err := a.ch.Stop(within(t, testutil.WaitLimit), channel.SvcAll); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	mbWantEvents(t, a, "+"+pb, "-"+pb, "+"+pb, "-"+pb)
}

// countStops is a layer that counts the Stops of the chain that reach it.
type countStops struct {
	channel.InterceptorBase
	n atomic.Int32
}

func (c *countStops) Stop(ctx context.Context, svc channel.Service) error {
	c.n.Add(1)
	return c.Next().Stop(ctx, svc)
}

// TestFailureDetectorStopLeftByContentionLeavesTheLevelStopping: docs/interceptors.md
// says that a Stop that stops waiting for the removals it passes through once another
// Start or Stop of the channel waits for it (here the listener of one, stopping the
// channel again) returns nil and leaves the level stopping. The channel then takes the
// level as left stopping: the listener's Stop, though every level was stopped, calls the
// chain's Stop again (the layer above the detector sees a second Stop), which does not
// wait for the listener it is made from, and returns nil.
func TestFailureDetectorStopLeftByContentionLeavesTheLevelStopping(t *testing.T) {
	alive := newAliveSet()
	d := newTestDetector(alive)
	nw := channeltest.NewNetwork()
	cs := &countStops{}
	var a *mbNode
	inner := make(chan error, 1)
	var once sync.Once
	a = mbNew(t, nw, mbOpt{id: 1}, &holdGone{hold: func(channel.Member) {
		once.Do(func() { inner <- a.ch.Stop(within(t, testutil.WaitLimit), channel.SvcAll) })
	}}, cs, d)
	b := mbNew(t, nw, mbOpt{id: 2})
	alive.set(b.port(), true)
	mbStart(t, a, b)
	testutil.EventuallyTrue(t, testutil.WaitLimit, "B announced", func() bool {
		return d.Settled() && len(a.evs()) == 1
	})
	if err := a.ch.Stop(within(t, 2*testutil.WaitLimit), channel.SvcAll); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	select {
	case err := <-inner:
		if err != nil {
			t.Fatalf("the listener's Stop: %v, want nil", err)
		}
	case <-time.After(2 * testutil.WaitLimit):
		t.Fatal("the listener's Stop did not return")
	}
	if n := cs.n.Load(); n != 2 {
		t.Fatalf("the chain's Stop was called %d times, want 2: the level was not left stopping", n)
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "the removal went up", func() bool {
		return d.Settled() && len(a.evs()) == 2
	})
	mbWantEvents(t, a, "+"+fmt.Sprint(b.port()), "-"+fmt.Sprint(b.port()))
}
