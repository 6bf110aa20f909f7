package channeltest_test

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
)

// newChannel returns an unstarted channel of a new node of nw, with l as its membership
// listener, stopped at the test's end.
func newChannel(t *testing.T, nw *channeltest.Network, l channel.MembershipListener) (*channel.Channel, *channeltest.Node) {
	t.Helper()
	n := nw.NewNode()
	ch, err := channel.New(channel.Config{Transport: n.Transport(), Membership: n.Membership(), HeartbeatInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	if l != nil {
		ch.AddMembershipListener(l)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = ch.Stop(ctx, channel.SvcAll)
	})
	return ch, n
}

// TestChannelStopFromAListenerWithBackgroundReturns: a membership's Stop waited for the
// events of its change, which go up behind the listener call it was made in, so a
// listener that stopped its channel with context.Background() when another node's Start
// announced a member waited for its own call to return: for ever, holding its channel's
// lifecycle and the other node's Start. A Stop made on the goroutine delivering the
// events now waits for none of them: it returns nil, and the member's disappearance goes
// up once the listener returned, after its addition.
func TestChannelStopFromAListenerWithBackgroundReturns(t *testing.T) {
	nw := channeltest.NewNetwork()
	var mu sync.Mutex
	var got []string
	record := func(ev string) { mu.Lock(); got = append(got, ev); mu.Unlock() }
	stopped := make(chan error, 1)
	var a *channel.Channel
	a, _ = newChannel(t, nw, channel.MembershipFuncs{
		Added: func(m channel.Member) {
			record("+" + m.Addr())
			stopped <- a.Stop(context.Background(), channel.SvcAll)
		},
		Disappeared: func(m channel.Member) { record("-" + m.Addr()) },
	})
	channeltest.Start(t, a)
	b, bn := newChannel(t, nw, nil)
	started := make(chan error, 1)
	go func() { started <- b.Start(context.Background(), channel.SvcAll) }() // a's listener runs on this goroutine
	select {
	case err := <-stopped:
		if err != nil {
			t.Fatalf("Stop(context.Background()) from the listener: %v, want nil", err)
		}
	case <-time.After(testutil.WaitLimit):
		t.Fatal("Stop(context.Background()) from the membership listener did not return")
	}
	select {
	case err := <-started:
		if err != nil {
			t.Fatalf("the other node's Start: %v", err)
		}
	case <-time.After(testutil.WaitLimit):
		t.Fatal("the other node's Start did not return after the listener's Stop")
	}
	bm := bn.Member().Addr()
	mu.Lock()
	defer mu.Unlock()
	if want := []string{"+" + bm, "-" + bm}; !slices.Equal(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	if s := a.Started(); s != 0 {
		t.Fatalf("running %v after the listener's Stop", s)
	}
}

// TestChannelStopFromAnotherGoroutineWaitsForEarlierEvents: the other side of the test
// above. A Stop made on another goroutine than the one delivering the events still
// waits, within its ctx, for the events of its change, behind the listener call queued
// before them (its MemberAdded of another node, held): no listener call runs once it
// returned nil.
func TestChannelStopFromAnotherGoroutineWaitsForEarlierEvents(t *testing.T) {
	nw := channeltest.NewNetwork()
	entered, release := make(chan struct{}), make(chan struct{})
	var inListener atomic.Bool
	a, _ := newChannel(t, nw, channel.MembershipFuncs{
		Added: func(channel.Member) {
			inListener.Store(true)
			defer inListener.Store(false)
			close(entered)
			<-release
		},
	})
	channeltest.Start(t, a)
	b, _ := newChannel(t, nw, nil)
	started := make(chan error, 1)
	go func() { started <- b.Start(context.Background(), channel.SvcAll) }()
	<-entered
	ctx, cancel := context.WithTimeout(context.Background(), testutil.WaitLimit)
	defer cancel()
	stopped := make(chan bool, 1) // whether the listener call still ran when Stop returned
	go func() {
		if err := a.Stop(ctx, channel.SvcAll); err != nil {
			t.Errorf("Stop: %v", err)
		}
		stopped <- inListener.Load()
	}()
	select {
	case <-stopped:
		close(release)
		t.Fatal("Stop returned while the listener call queued before its events ran")
	case <-time.After(100 * time.Millisecond): // an absence: Stop waits
	}
	close(release)
	select {
	case still := <-stopped:
		if still {
			t.Fatal("Stop returned while the listener call queued before its events ran")
		}
	case <-time.After(testutil.WaitLimit):
		t.Fatal("Stop did not return once the listener call before its events returned")
	}
	if err := <-started; err != nil {
		t.Fatal(err)
	}
}
