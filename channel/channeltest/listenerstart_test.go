package channeltest_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
)

// TestChannelRestartFromAListenerReturns: a membership's Start waited for the events of
// its change, which go up behind the listener call it was made in, so a listener that
// restarted its channel (Stop, then Start with a ctx of a minute) when another node's
// Start announced a member had its Start wait out that minute, holding its channel's
// lifecycle and the other node's Start, and then fail with ctx's error. A Start made on
// the goroutine delivering the events now waits for none of them, as Stop: the restart
// returns nil at once, and once the listener returned it is told of the member gone
// and added again, in order, the channel running and listing the member.
func TestChannelRestartFromAListenerReturns(t *testing.T) {
	nw := channeltest.NewNetwork()
	var mu sync.Mutex
	var got []string
	record := func(ev string) { mu.Lock(); got = append(got, ev); mu.Unlock() }
	restarted := make(chan error, 1)
	first := true // read and written only on the goroutine delivering the events
	var a *channel.Channel
	a, _ = newChannel(t, nw, channel.MembershipFuncs{
		Added: func(m channel.Member) {
			record("+" + m.Addr())
			if first {
				first = false
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				restarted <- errors.Join(a.Stop(context.Background(), channel.SvcAll), a.Start(ctx, channel.SvcAll))
			}
		},
		Disappeared: func(m channel.Member) { record("-" + m.Addr()) },
	})
	channeltest.Start(t, a)
	b, bn := newChannel(t, nw, nil)
	started := make(chan error, 1)
	go func() { started <- b.Start(context.Background(), channel.SvcAll) }() // a's listener runs on this goroutine
	select {
	case err := <-restarted:
		if err != nil {
			t.Fatalf("Stop and Start from the listener: %v, want nil", err)
		}
	case <-time.After(testutil.WaitLimit):
		t.Fatal("Start from the membership listener, with a ctx of a minute, did not return")
	}
	select {
	case err := <-started:
		if err != nil {
			t.Fatalf("the other node's Start: %v", err)
		}
	case <-time.After(testutil.WaitLimit):
		t.Fatal("the other node's Start did not return after the listener's restart")
	}
	bm := bn.Member().Addr()
	mu.Lock()
	defer mu.Unlock()
	if want := []string{"+" + bm, "-" + bm, "+" + bm}; !slices.Equal(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	if s := a.Started(); s != channel.SvcAll {
		t.Fatalf("running %v after the listener's restart, want every level", s)
	}
	if ms := a.Members(); len(ms) != 1 || ms[0].Addr() != bm {
		t.Fatalf("members %v after the restart, want %s", ms, bm)
	}
}
