package channel_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
)

// WaitForMembers promises an error wrapping ErrNotStarted "on a channel with no level
// started (never started, or stopped)", and TestWaitForMembers guards against a wait
// "forever with context.Background()" on such a channel. But a wait that began while the
// channel ran and had no member yet (the usual case: WaitForMembers right after Start, as
// in README) never learnt of a Stop: no membership change came, so it blocked until its
// context ended, forever with one that has no deadline: a goroutine left after a clean
// Stop. Stop wakes it now. (Found by review.)
func TestWaitForMembersWokenByStop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := channeltest.NewNetwork()
		tn := nw.NewNode()
		ch, err := channel.New(channel.Config{Transport: tn.Transport(), Membership: tn.Membership(), HeartbeatInterval: -1})
		if err != nil {
			t.Fatal(err)
		}
		if err := ch.Start(context.Background(), channel.SvcAll); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background()) // no deadline, as Background
		defer cancel()
		done := make(chan error, 1)
		go func() { done <- ch.WaitForMembers(ctx, 1) }()
		synctest.Wait() // the waiter is blocked, waiting for a member
		if err := ch.Stop(context.Background(), channel.SvcAll); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		select {
		case err := <-done:
			if !errors.Is(err, channel.ErrNotStarted) {
				t.Errorf("wait ended by Stop: %v, want ErrNotStarted", err)
			}
		default:
			cancel()
			t.Errorf("WaitForMembers still blocked after the channel stopped (returned only when its context was cancelled: %v)", <-done)
		}
	})
}
