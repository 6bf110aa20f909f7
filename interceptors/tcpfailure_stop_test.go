package interceptors

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
)

// TestFailureDetectorStopHonoursItsContext: Stop gave up waiting for a check under way
// once its ctx ended but returned no error, and a later Stop and a Start did not wait for
// that check, so a caller took the detector for stopped while its goroutine still ran.
// Stop now returns an error wrapping ctx's once ctx ends, a later Stop waits for the
// check again within its own ctx, a Start too and starts nothing when its ctx ends first,
// and both succeed once the check returned.
func TestFailureDetectorStopHonoursItsContext(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	var once, free sync.Once
	open := func() { free.Do(func() { close(release) }) }
	defer open()
	d := must(NewTCPFailureDetector(TCPFailureDetectorConfig{
		// A probe that ignores its context (a connect that does not give up).
		Probe: func(context.Context, channel.Member) error {
			once.Do(func() { close(entered) })
			<-release
			return nil
		},
	}))
	nw := channeltest.NewNetwork()
	a := mbNew(t, nw, mbOpt{id: 1}, d)
	b := mbNew(t, nw, mbOpt{id: 2})
	mbStart(t, a, b)
	select {
	case <-entered:
	case <-time.After(testutil.WaitLimit):
		t.Fatal("the added member was not checked")
	}
	stopsWithinItsContext(t, a.ch, d, "the check", open)
}

// TestFailureDetectorListenerStopsTheChannel: the detector called the membership
// listener while holding the lock that keeps its events in order, so a listener that
// stopped the channel when a member was announced (after its check, or when a message of
// it arrived first) had the membership below report that member gone on the same
// goroutine, whose event waited for that lock: a deadlock, holding the channel's
// lifecycle lock. Events now go up outside that lock, in the same order: the Stop
// returns nil, and the member's disappearance goes up once the listener returned.
func TestFailureDetectorListenerStopsTheChannel(t *testing.T) {
	for _, heard := range []bool{false, true} {
		name := "check"
		if heard {
			name = "heard"
		}
		t.Run(name, func(t *testing.T) {
			nw := channeltest.NewNetwork()
			alive := newAliveSet()
			d := newTestDetector(alive)
			a := mbNew(t, nw, mbOpt{id: 1}, d)
			b := mbNew(t, nw, mbOpt{id: 2})
			alive.set(b.port(), !heard)
			stopped := make(chan error, 1)
			var once sync.Once
			a.ch.AddMembershipListener(channel.MembershipFuncs{Added: func(channel.Member) {
				once.Do(func() {
					ctx, cancel := context.WithTimeout(context.Background(), testutil.WaitLimit)
					defer cancel()
					stopped <- a.ch.Stop(ctx, channel.SvcAll)
				})
			}})
			for _, n := range []*mbNode{a, b} {
				if err := n.ch.Start(context.Background(), channel.SvcAll); err != nil {
					t.Fatal(err)
				}
			}
			if heard {
				testutil.EventuallyTrue(t, testutil.WaitLimit, "B checked", func() bool {
					return d.Settled() && d.Stats().AddSuspects == 1
				})
				go func() { // A's listener runs on this goroutine: it must not hold the test
					_ = b.ch.Send(context.Background(), []channel.Member{a.ch.LocalMember()}, []byte("x"), 0)
				}()
			}
			select {
			case err := <-stopped:
				if err != nil {
					t.Fatalf("Stop from the listener: %v, want nil", err)
				}
			case <-time.After(2 * testutil.WaitLimit):
				// Deadlocked: stopping the nodes would wait for ever too.
				t.Fatal("Stop from the detector's listener did not return")
			}
			t.Cleanup(func() { mbStop(t, b); mbStop(t, a) })
			testutil.EventuallyTrue(t, testutil.WaitLimit, "B's disappearance delivered", func() bool {
				return len(a.evs()) == 2 && d.Settled()
			})
			mbWantEvents(t, a, fmt.Sprintf("+%d", b.port()), fmt.Sprintf("-%d", b.port()))
			if got := a.ch.Started(); got != 0 {
				t.Fatalf("running %v after the listener's Stop", got)
			}
		})
	}
}

// TestFailureDetectorRestartDoesNotWaitForAnOldListener: a member's checks run one at a
// time from its queue, and the queue of a run whose goroutine was held in a membership
// listener (the member's announcement) when the channel was stopped, which the Stop does
// not wait for, stayed the member's queue after a Start: the new run's checks of that
// member were queued behind the held call (or dropped as the queue was busy) and made
// only once it returned, by the old run's goroutine, without checking (a report of the
// member gone, queued behind the held call, removed the member the new run listed). A
// Stop now leaves the old run's queues to it: the new run checks the member at once,
// taking the report left to the old goroutine to its own checks first (the member
// answers: it is kept, and stays once the call returned).
func TestFailureDetectorRestartDoesNotWaitForAnOldListener(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	var once, free sync.Once
	open := func() { free.Do(func() { close(release) }) }
	defer open()
	var probes atomic.Int32
	d := must(NewTCPFailureDetector(TCPFailureDetectorConfig{
		Probe: func(context.Context, channel.Member) error {
			probes.Add(1)
			return nil
		},
	}))
	hold := &holdAdded{hold: func(channel.Member) {
		once.Do(func() {
			close(entered)
			<-release
		})
	}}
	nw := channeltest.NewNetwork()
	a := mbNew(t, nw, mbOpt{id: 1}, hold, d)
	b := mbNew(t, nw, mbOpt{id: 2})
	mbStart(t, a, b)
	select {
	case <-entered:
	case <-time.After(testutil.WaitLimit):
		t.Fatal("the added member was not announced")
	}
	member := b.ch.LocalMember()
	if err := returnsWithin(t, "Stop", open, func() error {
		return a.ch.Stop(within(t, testutil.WaitLimit), channel.SvcAll)
	}); err != nil {
		t.Fatalf("Stop with the announcement held: %v", err)
	}
	// The stopping membership reported the member gone, and a failed send reports it again:
	// queued behind the held call (a running detector checks such a report at once:
	// TestFailureDetectorBlockedRemovalListenerHoldsNoOtherMembersCheck).
	d.MemberDisappeared(member)
	testutil.EventuallyTrue(t, testutil.WaitLimit, "the reports queued behind the held call", func() bool {
		d.mu.Lock()
		defer d.mu.Unlock()
		q := d.queues[member.Key()]
		return q != nil && len(q.ops) == 2
	})
	before := probes.Load()
	if err := returnsWithin(t, "Start", open, func() error {
		return a.ch.Start(within(t, testutil.WaitLimit), channel.SvcAll)
	}); err != nil {
		t.Fatalf("Start with the old announcement held: %v", err)
	}
	d.CheckMembers(true)
	testutil.EventuallyTrue(t, testutil.WaitLimit, "the new run checked and listed the member", func() bool {
		_, listed := d.Member(member.Key())
		d.mu.Lock()
		_, checking := d.queues[member.Key()] // the new run's queue: done when gone
		d.mu.Unlock()
		return probes.Load() > before && listed && !checking
	})
	if d.Stats().KeptAlive == 0 {
		t.Fatal("the old run's report was not checked by the new run")
	}
	open()
	testutil.EventuallyTrue(t, testutil.WaitLimit, "the old run ended and the events went up", d.Settled)
	if _, ok := d.Member(member.Key()); !ok {
		t.Fatal("the old run's report removed the member the new run listed, without a check")
	}
}
