package channeltest_test

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

// TestChannelStopFromAListenerReturns: the network called membership listeners while
// holding its event lock, so a listener that stopped its channel when another node's
// Start announced a member had its membership's Stop wait for that lock on the same
// goroutine: a deadlock, holding both channels' lifecycle locks, whatever the Stop's ctx.
// Events now go up outside that lock, in the same order: the Stop returns nil without
// waiting for the events of its own change, which go up once the listener returned, and
// the listener is told of the member gone after its addition.
func TestChannelStopFromAListenerReturns(t *testing.T) {
	nw := channeltest.NewNetwork()
	var mu sync.Mutex
	var got []string
	record := func(ev string) { mu.Lock(); got = append(got, ev); mu.Unlock() }
	stopped := make(chan error, 1)
	an := nw.NewNode()
	a, err := channel.New(channel.Config{Transport: an.Transport(), Membership: an.Membership(), HeartbeatInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	a.AddMembershipListener(channel.MembershipFuncs{
		Added: func(m channel.Member) {
			record("+" + m.Addr())
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			stopped <- a.Stop(ctx, channel.SvcAll)
		},
		Disappeared: func(m channel.Member) { record("-" + m.Addr()) },
	})
	channeltest.Start(t, a)
	bn := nw.NewNode()
	b, err := channel.New(channel.Config{Transport: bn.Transport(), Membership: bn.Membership(), HeartbeatInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan error, 1)
	go func() { started <- b.Start(context.Background(), channel.SvcAll) }() // a's listener runs on this goroutine
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = b.Stop(ctx, channel.SvcAll)
	})
	select {
	case err := <-stopped:
		// Its member gone goes up once the listener returned: Stop, made on the goroutine
		// delivering the events, does not wait for it.
		if err != nil {
			t.Fatalf("Stop from the listener: %v, want nil", err)
		}
	case <-time.After(2 * testutil.WaitLimit):
		t.Fatal("Stop from the membership listener did not return") // deadlocked for ever
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
