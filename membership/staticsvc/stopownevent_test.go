package staticsvc_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/membership/staticsvc"
)

// TestChannelStopFromAListenerOfItsOwnEventWaitsForItsContext pins what Stop's doc says
// of a listener called for a member that a channel's Stop reports gone and that stops the
// channel: that Stop waits for the event's delivery holding the channel's Start/Stop
// lock, which the listener's Stop waits for, so the first returns an error wrapping its
// ctx's once its ctx ends (never, with one that never ends), the listener's then stops
// nothing and returns nil.
func TestChannelStopFromAListenerOfItsOwnEventWaitsForItsContext(t *testing.T) {
	ctx := context.Background()
	p := testutil.FreePorts(t, 2)
	long := staticsvc.Config{Members: members(t, p[0], p[1]), ExpirationTime: time.Hour, PingInterval: time.Hour}
	a := newNode(t, p[0], long)
	b := newNode(t, p[1], long)
	var once sync.Once
	inner := make(chan error, 1)
	a.ch.AddMembershipListener(channel.MembershipFuncs{Disappeared: func(channel.Member) {
		once.Do(func() { inner <- a.ch.Stop(context.Background(), channel.SvcAll) })
	}})
	for _, n := range []*node{a, b} {
		if err := n.ch.Start(ctx, channel.SvcAll); err != nil {
			t.Fatal(err)
		}
	}
	const wait = 300 * time.Millisecond
	start := time.Now() // before the ctx's deadline is set from the clock
	sctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	err := a.ch.Stop(sctx, channel.SvcAll)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Stop whose gone event's listener stops the channel: %v, want context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d < wait {
		t.Errorf("that Stop returned after %v, before its ctx ended", d)
	}
	select {
	case err := <-inner:
		if err != nil {
			t.Errorf("the listener's Stop: %v", err)
		}
	case <-time.After(testutil.WaitLimit):
		t.Fatalf("the listener's Stop has not returned %v after the first ended", testutil.WaitLimit)
	}
}
