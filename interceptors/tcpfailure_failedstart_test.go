package interceptors

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
)

// TestTCPFailureDetectorFailedStartSharesTheUndoBound: the channel's Start promises that
// a failed Start stops what it started within 5 seconds of failing, or its ctx
// (channel.TestFailedStartUndoSharesOneBound). When the layers below failed to start,
// TCPFailureDetector waited for its checks under way (here of a static member announced
// before the membership failed, whose probe ignores its context) with Start's own ctx:
// for as long as that allowed (for ever without a deadline), not within the undo's bound.
// It now waits with channel.FailedStartContext, and the channel's next Stop, remembering
// the levels, still waits for the check.
func TestTCPFailureDetectorFailedStartSharesTheUndoBound(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := channeltest.NewNetwork().NewNode()
		ghost := channel.Member{Host: []byte{127, 0, 0, 1}, Port: 1, SecurePort: -1, UDPPort: -1, UniqueID: channel.UniqueID{9}}
		probing, held := make(chan struct{}), make(chan struct{})
		release := sync.OnceFunc(func() { close(held) })
		defer release()
		entered := sync.OnceFunc(func() { close(probing) })
		fd := must(NewTCPFailureDetector(TCPFailureDetectorConfig{Probe: func(context.Context, channel.Member) error {
			entered()
			<-held
			return nil
		}}))
		sm := must(NewStaticMembership(StaticMembershipConfig{Members: []channel.Member{ghost}}))
		ch, err := channel.New(channel.Config{Transport: n.Transport(),
			Membership:   heldFailingMembership{MembershipService: n.Membership(), held: probing},
			Interceptors: []channel.Interceptor{fd, sm}, HeartbeatInterval: -1})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		began := time.Now()
		err = ch.Start(ctx, channel.SvcAll)
		if took := time.Since(began); took != 5*time.Second {
			t.Errorf("the failed Start took %v, want 5s: the failure detector's undo has a bound of its own", took)
		}
		if !errors.Is(err, errStartOnce) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Start = %v, want the membership's error and the undo's deadline", err)
		}

		short, cancelShort := context.WithTimeout(context.Background(), time.Second)
		defer cancelShort()
		if err := ch.Stop(short, channel.SvcAll); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Stop, with a deadline, while the check of the failed Start still runs = %v, want context.DeadlineExceeded", err)
		}
		release()
		if err := ch.Stop(context.Background(), channel.SvcAll); err != nil {
			t.Fatalf("Stop once the check ended = %v", err)
		}
	})
}
