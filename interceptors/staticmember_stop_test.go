package interceptors

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
)

// TestStaticMembershipStopHonoursItsContext: Stop waited for the goroutines announcing
// the static members whatever its ctx, so a start notice the layers below held (a send
// that ignores its context) kept Stop, and the channel's Stop with it, waiting for ever.
// Stop now returns an error wrapping ctx's once ctx ends, a later Stop waits for them
// again within its own ctx, a Start too and starts nothing when its ctx ends first, and
// both succeed once the notice was sent.
func TestStaticMembershipStopHonoursItsContext(t *testing.T) {
	nw := channeltest.NewNetwork()
	b := mbNew(t, nw, mbOpt{id: 2})
	s := must(NewStaticMembership(StaticMembershipConfig{Members: []channel.Member{b.expected(2)}}))
	h := newHoldSend()
	defer h.open()
	a := mbNew(t, nw, mbOpt{id: 1}, s, h)
	mbStart(t, b, a)
	select {
	case <-h.entered:
	case <-time.After(testutil.WaitLimit):
		t.Fatal("no start notice sent")
	}
	stopsWithinItsContext(t, a.ch, s, "the start notice", h.open)
}

// TestStaticMembershipStopFromAnnounce: a membership listener that stops the channel when
// a static member is announced runs on the goroutine announcing it, which Stop waited
// for: it waited for itself, for ever, holding the channel's lifecycle lock. Such a Stop
// now does not wait for that goroutine and returns nil.
func TestStaticMembershipStopFromAnnounce(t *testing.T) {
	nw := channeltest.NewNetwork()
	ghost := channel.Member{Host: []byte{127, 0, 0, 1}, Port: 1, SecurePort: -1, UDPPort: -1, UniqueID: channel.UniqueID{9}}
	s := must(NewStaticMembership(StaticMembershipConfig{Members: []channel.Member{ghost}}))
	a := mbNew(t, nw, mbOpt{id: 1}, s)
	stopped := make(chan error, 1)
	var once sync.Once
	a.ch.AddMembershipListener(channel.MembershipFuncs{Added: func(m channel.Member) {
		if m.Port != ghost.Port {
			return
		}
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), testutil.WaitLimit)
			defer cancel()
			stopped <- a.ch.Stop(ctx, channel.SvcAll)
		})
	}})
	if err := a.ch.Start(context.Background(), channel.SvcAll); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mbStop(t, a) })
	select {
	case err := <-stopped:
		if err != nil {
			t.Fatalf("Stop from the announcing goroutine: %v, want nil at once", err)
		}
	case <-time.After(2 * testutil.WaitLimit):
		t.Fatal("Stop from the announcing goroutine did not return")
	}
	if got := a.ch.Started(); got != 0 {
		t.Fatalf("running %v after the listener's Stop", got)
	}
}

// TestStaticMembershipStopDoesNotWaitForAHeldListener: the trade-off of not waiting for
// an announcing goroutine that is inside a membership listener call (the caller may be
// that listener): a Stop made elsewhere while the listener is held returns nil without
// waiting for it; once the call returned, a later Stop waits for the goroutine (the run
// left stopping is gone when it returns), and the channel starts again.
func TestStaticMembershipStopDoesNotWaitForAHeldListener(t *testing.T) {
	nw := channeltest.NewNetwork()
	ghost := channel.Member{Host: []byte{127, 0, 0, 1}, Port: 1, SecurePort: -1, UDPPort: -1, UniqueID: channel.UniqueID{9}}
	s := must(NewStaticMembership(StaticMembershipConfig{Members: []channel.Member{ghost}}))
	a := mbNew(t, nw, mbOpt{id: 1}, s)
	entered, release := make(chan struct{}), make(chan struct{})
	var once, free sync.Once
	open := func() { free.Do(func() { close(release) }) }
	defer open()
	a.ch.AddMembershipListener(channel.MembershipFuncs{Added: func(m channel.Member) {
		if m.Port != ghost.Port {
			return
		}
		once.Do(func() {
			close(entered)
			<-release
		})
	}})
	if err := a.ch.Start(context.Background(), channel.SvcAll); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mbStop(t, a) })
	select {
	case <-entered:
	case <-time.After(testutil.WaitLimit):
		t.Fatal("the static member was not announced")
	}
	if err := returnsWithin(t, "Stop", open, func() error {
		return a.ch.Stop(context.Background(), channel.SvcAll)
	}); err != nil {
		t.Fatalf("Stop with the listener held: %v, want nil at once", err)
	}
	if got := a.ch.Started(); got != 0 {
		t.Fatalf("running %v after the Stop", got)
	}
	s.stopping.mu.Lock()
	runs := slices.Clone(s.stopping.runs)
	s.stopping.mu.Unlock()
	if len(runs) != 1 {
		t.Fatalf("%d runs left stopping while the listener is held, want 1", len(runs))
	}
	open()
	testutil.EventuallyTrue(t, testutil.WaitLimit, "the listener returned", func() bool { return !runs[0].callingUp() })
	if err := s.Stop(within(t, testutil.WaitLimit), channel.SvcAll); err != nil {
		t.Fatalf("Stop once the listener returned: %v", err)
	}
	s.stopping.mu.Lock()
	left := len(s.stopping.runs)
	s.stopping.mu.Unlock()
	if left != 0 {
		t.Fatalf("%d runs left stopping after a Stop once the listener returned, want it waited for", left)
	}
	if err := a.ch.Start(within(t, testutil.WaitLimit), channel.SvcAll); err != nil {
		t.Fatalf("Start once the listener returned: %v", err)
	}
}
