package channel_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
)

// gatedMembership is a membership service whose Start waits for gate and then fails.
type gatedMembership struct {
	channel.MembershipService
	gate chan struct{}
}

var errMembershipStart = errors.New("membership cannot start")

func (g *gatedMembership) Start(context.Context, channel.Service, channel.Member, channel.MembershipListener) error {
	<-g.gate
	return errMembershipStart
}

// WaitForMembers promises an error wrapping ErrNotStarted on a channel with no level
// started "and when the channel stops while it waits" (TestWaitForMembersWokenByStop). A
// wait that begins while Start is under way (the receiver and sender started, the
// membership starting: Started() is not 0) and a Start that then fails (the coordinator
// stops the levels it started) leave the channel with no level started; but only Stop
// closes the channel that wakes the waiter, so it blocks until its context ends, for
// ever with one that has no deadline.
func TestWaitForMembersWokenByFailedStart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := channeltest.NewNetwork()
		tn := nw.NewNode()
		mb := &gatedMembership{MembershipService: tn.Membership(), gate: make(chan struct{})}
		ch, err := channel.New(channel.Config{Transport: tn.Transport(), Membership: mb, HeartbeatInterval: -1})
		if err != nil {
			t.Fatal(err)
		}
		startErr := make(chan error, 1)
		go func() { startErr <- ch.Start(context.Background(), channel.SvcAll) }()
		synctest.Wait() // Start waits in the membership's Start: receiver and sender run
		if ch.Started() == 0 {
			t.Fatal("no level started while the membership starts")
		}
		ctx, cancel := context.WithCancel(context.Background()) // no deadline, as Background
		defer cancel()
		done := make(chan error, 1)
		go func() { done <- ch.WaitForMembers(ctx, 1) }()
		synctest.Wait() // the waiter is blocked, waiting for a member
		close(mb.gate)
		if err := <-startErr; !errors.Is(err, errMembershipStart) {
			t.Fatalf("Start = %v, want the membership's error", err)
		}
		synctest.Wait()
		select {
		case err := <-done:
			if !errors.Is(err, channel.ErrNotStarted) {
				t.Errorf("wait ended by the failed Start: %v, want ErrNotStarted", err)
			}
		default:
			cancel()
			t.Errorf("WaitForMembers still blocked after Start failed and left no level started (Started() = %v); "+
				"it returned only when its context was cancelled: %v", ch.Started(), <-done)
		}
	})
}
