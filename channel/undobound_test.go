package channel_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
)

// ctxStopTransport is channeltest's transport whose Stop, once the level stopped, waits
// until its ctx ends and says so: a receiver whose deliveries never finish.
type ctxStopTransport struct{ channel.Transport }

func (s ctxStopTransport) Stop(ctx context.Context, svc channel.Service) error {
	if err := s.Transport.Stop(ctx, svc); err != nil {
		return err
	}
	<-ctx.Done()
	return fmt.Errorf("transport still stopping: %w", ctx.Err())
}

// txFailingMembership is channeltest's membership service whose membership-tx level fails
// to start (the rx level starts), and whose Stop waits until its ctx ends, as
// ctxStopTransport's.
type txFailingMembership struct{ channel.MembershipService }

func (m txFailingMembership) Start(ctx context.Context, svc channel.Service, local channel.Member, l channel.MembershipListener) error {
	if svc&channel.SvcMembershipTx != 0 {
		return errMembershipStart
	}
	return m.MembershipService.Start(ctx, svc, local, l)
}

func (m txFailingMembership) Stop(ctx context.Context, svc channel.Service) error {
	if err := m.MembershipService.Stop(ctx, svc); err != nil {
		return err
	}
	<-ctx.Done()
	return fmt.Errorf("membership still stopping: %w", ctx.Err())
}

// TestFailedStartUndoSharesOneBound: Start's doc promises that a failed Start stops what
// it started within ctx, if live, and 5 seconds after it failed in any case. Its undo
// came in two parts, each bounded on its own: the coordinator stopped the levels of its
// failing call (here the membership-rx level) within 5 seconds, and then the channel
// stopped those an interceptor had started in an earlier call (here the transport's,
// splitStart) within 5 more, so that a failed Start whose levels never finished stopping
// took 10 seconds. Every part of the undo now shares one bound, fixed when starting
// failed: the failed Start takes 5 seconds, and no more than its ctx allows.
func TestFailedStartUndoSharesOneBound(t *testing.T) {
	for _, tc := range []struct {
		name    string
		timeout time.Duration // Start's ctx; 0: none
		want    time.Duration
	}{
		{"ctx without deadline", 0, 5 * time.Second},
		{"ctx with deadline", 3 * time.Second, 3 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				n := channeltest.NewNetwork().NewNode()
				ch, err := channel.New(channel.Config{Transport: ctxStopTransport{n.Transport()},
					Membership:   txFailingMembership{n.Membership()},
					Interceptors: []channel.Interceptor{&splitStart{}}, HeartbeatInterval: -1})
				if err != nil {
					t.Fatal(err)
				}
				ctx := context.Background()
				if tc.timeout > 0 {
					var cancel context.CancelFunc
					ctx, cancel = context.WithTimeout(ctx, tc.timeout)
					defer cancel()
				}
				began := time.Now()
				err = ch.Start(ctx, channel.SvcAll)
				if took := time.Since(began); took != tc.want {
					t.Errorf("the failed Start took %v, want %v: its undo's parts do not share one bound", took, tc.want)
				}
				if !errors.Is(err, errMembershipStart) || !errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("Start = %v, want the membership's error and the stops' deadline", err)
				}
				if s := ch.Started(); s != 0 {
					t.Errorf("Started() = %v after the failed Start, want none", s)
				}
			})
		})
	}
}

// TestFailedStartContextOutsideAStart: FailedStartContext called with a context that does
// not come from a Channel.Start (an interceptor's Start called by itself) ends 5 seconds
// after the call, with ctx if ctx is live, and not with ctx if ctx had ended already.
func TestFailedStartContextOutsideAStart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		live, cancelLive := context.WithCancel(context.Background())
		uctx, cancel := channel.FailedStartContext(live)
		defer cancel()
		if d, ok := uctx.Deadline(); !ok || d.Sub(time.Now()) != 5*time.Second {
			t.Errorf("deadline %v (set %v), want 5s from now", d.Sub(time.Now()), ok)
		}
		cancelLive()
		if uctx.Err() == nil {
			t.Error("the context did not end with the live ctx it was made from")
		}

		ectx, cancelE := channel.FailedStartContext(endedContext())
		defer cancelE()
		if ectx.Err() != nil {
			t.Errorf("made from an ended ctx, it ended at once (%v): the levels get no time to stop", ectx.Err())
		}
		began := time.Now()
		<-ectx.Done()
		if took := time.Since(began); took != 5*time.Second {
			t.Errorf("made from an ended ctx, it ended after %v, want 5s", took)
		}
	})
}
