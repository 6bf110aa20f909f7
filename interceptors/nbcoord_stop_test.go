package interceptors

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
)

// TestNonBlockingCoordinatorStopHonoursItsContext: Stop waited for the coordinator's
// goroutine whatever its ctx, so an alive check that did not return (or a send the layers
// below held) kept Stop, and the channel's Stop with it, waiting for ever. Stop now
// returns an error wrapping ctx's once ctx ends, a later Stop waits for the goroutine
// again within its own ctx, a Start too and starts nothing when its ctx ends first, and
// both succeed once it returned.
func TestNonBlockingCoordinatorStopHonoursItsContext(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	var once, free sync.Once
	open := func() { free.Do(func() { close(release) }) }
	defer open()
	c := must(NewNonBlockingCoordinator(NonBlockingCoordinatorConfig{
		// An alive check that ignores its context (a connect that does not give up).
		AliveCheck: func(context.Context, channel.Member) bool {
			once.Do(func() { close(entered) })
			<-release
			return false
		},
	}))
	nw := channeltest.NewNetwork()
	n := newNode(t, nw, c)
	peer := newNode(t, nw) // a member without a coordinator: it starts no election
	startNodes(t, n, peer)
	member := peer.member()
	cm := CoordinationMessage{Leader: unreachableMember, Source: member,
		View: []channel.Member{unreachableMember, member}, ID: newViewID(), Type: CoordRequest}
	if err := n.tap.inject(coordMessage(t, member, cm)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-entered:
	case <-time.After(testutil.WaitLimit):
		t.Fatal("the coordinator never checked the unknown member")
	}
	stopsWithinItsContext(t, n.ch, c, "the alive check", open)
	if err := n.ch.Stop(within(t, testutil.WaitLimit), channel.SvcAll); err != nil {
		t.Fatal(err)
	}
}

// TestNonBlockingCoordinatorRestartFromItsGoroutine: a hook of the coordinator's
// goroutine (OnViewChange here; a membership listener it calls is the same) that stops
// the channel waited in Stop for that goroutine, that is for itself: for ever, whatever
// Stop's ctx. A Stop made there now does not wait for it, a Start made there neither,
// and the run that Start began installs its view once the old goroutine ended.
func TestNonBlockingCoordinatorRestartFromItsGoroutine(t *testing.T) {
	type result struct{ stop, start error }
	done := make(chan result, 1)
	var views atomic.Int32
	var ch *channel.Channel
	c := must(NewNonBlockingCoordinator(NonBlockingCoordinatorConfig{
		OnViewChange: func([]channel.Member, [16]byte) {
			if views.Add(1) != 1 {
				return
			}
			ctx, cancel := context.WithTimeout(context.Background(), testutil.WaitLimit)
			defer cancel()
			var r result
			r.stop = ch.Stop(ctx, channel.SvcAll)
			if r.stop == nil {
				r.start = ch.Start(ctx, channel.SvcAll)
			}
			done <- r
		},
	}))
	n := newNode(t, channeltest.NewNetwork(), c)
	ch = n.ch
	if err := n.ch.Start(context.Background(), channel.SvcAll); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := n.ch.Stop(within(t, testutil.WaitLimit), channel.SvcAll); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	var r result
	select {
	case r = <-done:
	case <-time.After(2 * testutil.WaitLimit):
		t.Fatal("OnViewChange's Stop and Start did not return")
	}
	if r.stop != nil || r.start != nil {
		t.Fatalf("from the coordinator's goroutine: Stop %v, Start %v; want both nil at once", r.stop, r.start)
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "the restarted run's view", func() bool { return views.Load() >= 2 })
	if got := n.ch.Started(); got != channel.SvcAll {
		t.Fatalf("running %v after the restart", got)
	}
}

// TestNonBlockingCoordinatorStopDoesNotWaitForAHeldListener: the trade-off of not
// waiting for a goroutine that is inside a listener call (the caller may be that
// listener): a Stop made elsewhere while OnViewChange is held returns nil without waiting
// for the goroutine, and so does a later Stop while it is still held; once the call
// returned, a later Stop waits for the goroutine (the run left stopping is gone when it
// returns), and the channel starts again.
func TestNonBlockingCoordinatorStopDoesNotWaitForAHeldListener(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	var once, free sync.Once
	open := func() { free.Do(func() { close(release) }) }
	defer open()
	c := must(NewNonBlockingCoordinator(NonBlockingCoordinatorConfig{
		OnViewChange: func([]channel.Member, [16]byte) {
			once.Do(func() {
				close(entered)
				<-release
			})
		},
	}))
	n := newNode(t, channeltest.NewNetwork(), c)
	if err := n.ch.Start(context.Background(), channel.SvcAll); err != nil {
		t.Fatal(err)
	}
	select {
	case <-entered:
	case <-time.After(testutil.WaitLimit):
		t.Fatal("no view installed")
	}
	stopping := func() int {
		c.stopping.mu.Lock()
		defer c.stopping.mu.Unlock()
		return len(c.stopping.runs)
	}
	if err := returnsWithin(t, "Stop", open, func() error {
		return n.ch.Stop(context.Background(), channel.SvcAll)
	}); err != nil {
		t.Fatalf("Stop with OnViewChange held: %v, want nil at once", err)
	}
	if got := n.ch.Started(); got != 0 {
		t.Fatalf("running %v after the Stop", got)
	}
	if err := returnsWithin(t, "Stop again", open, func() error {
		return c.Stop(context.Background(), channel.SvcAll)
	}); err != nil {
		t.Fatalf("Stop again with OnViewChange held: %v, want nil at once", err)
	}
	if got := stopping(); got != 1 {
		t.Fatalf("%d runs left stopping while OnViewChange is held, want 1", got)
	}
	c.stopping.mu.Lock()
	run := c.stopping.runs[0]
	c.stopping.mu.Unlock()
	open()
	testutil.EventuallyTrue(t, testutil.WaitLimit, "OnViewChange returned", func() bool { return !run.callingUp() })
	if err := c.Stop(within(t, testutil.WaitLimit), channel.SvcAll); err != nil {
		t.Fatalf("Stop once OnViewChange returned: %v", err)
	}
	if got := stopping(); got != 0 {
		t.Fatalf("%d runs left stopping after a Stop once OnViewChange returned, want it waited for", got)
	}
	if err := n.ch.Start(within(t, testutil.WaitLimit), channel.SvcAll); err != nil {
		t.Fatalf("Start once OnViewChange returned: %v", err)
	}
	if err := n.ch.Stop(within(t, testutil.WaitLimit), channel.SvcAll); err != nil {
		t.Fatal(err)
	}
}

// TestNonBlockingCoordinatorInstallsNoViewAfterItsStop: a view confirmation whose alive
// check the goroutine was held in (a check that ignores its context) when a Stop gave
// up waiting for it was installed once the check returned, after Stop had forgotten the
// view: View reported it and OnViewChange was called for a stopped coordinator. The
// goroutine of a stopped run now installs nothing.
func TestNonBlockingCoordinatorInstallsNoViewAfterItsStop(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	var once, free sync.Once
	open := func() { free.Do(func() { close(release) }) }
	defer open()
	var views atomic.Int32
	c := must(NewNonBlockingCoordinator(NonBlockingCoordinatorConfig{
		AliveCheck: func(context.Context, channel.Member) bool {
			once.Do(func() { close(entered) })
			<-release
			return false
		},
		OnViewChange: func([]channel.Member, [16]byte) { views.Add(1) },
	}))
	nw := channeltest.NewNetwork()
	n := newNode(t, nw, c)
	peer := newNode(t, nw)
	startNodes(t, n, peer)
	member := peer.member()
	cm := CoordinationMessage{Leader: unreachableMember, Source: member,
		View: []channel.Member{unreachableMember, n.member(), member}, ID: newViewID(), Type: CoordConf}
	if err := n.tap.inject(coordMessage(t, member, cm)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-entered:
	case <-time.After(testutil.WaitLimit):
		t.Fatal("the coordinator never checked the unknown member")
	}
	before, installed := views.Load(), c.Stats().ViewsInstalled
	err := returnsWithin(t, "Stop", open, func() error {
		return n.ch.Stop(within(t, 100*time.Millisecond), channel.SvcAll)
	})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Stop with the alive check held: %v, want context.DeadlineExceeded", err)
	}
	open()
	// A Stop that returns nil has waited for the goroutine: it handled the confirmation.
	if err := c.Stop(within(t, testutil.WaitLimit), channel.SvcAll); err != nil {
		t.Fatalf("Stop once the alive check returned: %v", err)
	}
	if v, _, ok := c.View(); ok {
		t.Fatalf("view %v installed after the Stop", v)
	}
	if got := views.Load(); got != before {
		t.Fatalf("OnViewChange called %d times after the Stop", got-before)
	}
	if got := c.Stats().ViewsInstalled; got != installed {
		t.Fatalf("%d views installed after the Stop", got-installed)
	}
}
