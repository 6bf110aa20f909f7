package channel_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
)

// splitStart is an interceptor that starts the levels below it in two calls, the
// transport's first, as interceptors.StaticMembership does (to announce its members once
// the sender runs), and does not stop them when the second call fails.
type splitStart struct{ channel.InterceptorBase }

func (s *splitStart) Start(ctx context.Context, svc channel.Service) error {
	if t := svc & channel.SvcTransport; t != 0 {
		if err := s.Next().Start(ctx, t); err != nil {
			return err
		}
	}
	if rest := svc &^ channel.SvcTransport; rest != 0 {
		return s.Next().Start(ctx, rest)
	}
	return nil
}

// failOnceMembership is channeltest's membership service whose first Start fails.
type failOnceMembership struct {
	channel.MembershipService
	failed atomic.Bool
}

func (f *failOnceMembership) Start(ctx context.Context, svc channel.Service, local channel.Member, l channel.MembershipListener) error {
	if f.failed.CompareAndSwap(false, true) {
		return errMembershipStart
	}
	return f.MembershipService.Start(ctx, svc, local, l)
}

// TestFailedStartStopsWhatAnInterceptorStartedBefore: a Start that failed stopped again
// only the levels of the coordinator's call that failed; an interceptor that starts the
// levels below it in two calls (interceptors.StaticMembership) left those of its first
// call running when the second failed. The channel took none for started, so Stop
// stopped nothing (the receiver ran on) and the next Start failed with
// ErrAlreadyStarted: the channel could no longer be used. A failed Start now stops,
// through the chain, every level the coordinator still runs that the channel did not
// run before it.
func TestFailedStartStopsWhatAnInterceptorStartedBefore(t *testing.T) {
	n := channeltest.NewNetwork().NewNode()
	ch, err := channel.New(channel.Config{Transport: n.Transport(),
		Membership:   &failOnceMembership{MembershipService: n.Membership()},
		Interceptors: []channel.Interceptor{&splitStart{}}, HeartbeatInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	if err := ch.Start(context.Background(), channel.SvcAll); !errors.Is(err, errMembershipStart) {
		t.Fatalf("Start = %v, want the membership's error", err)
	}
	if s := ch.Started(); s != 0 {
		t.Errorf("Started() = %v after the failed Start, want none", s)
	}
	if err := ch.Start(context.Background(), channel.SvcAll); err != nil {
		t.Fatalf("Start after the failed one: %v", err)
	}
	if s := ch.Started(); s != channel.SvcAll {
		t.Errorf("Started() = %v, want every level", s)
	}
	if err := ch.Stop(context.Background(), channel.SvcAll); err != nil {
		t.Fatal(err)
	}
	if s := ch.Started(); s != 0 {
		t.Errorf("Started() = %v after Stop, want none", s)
	}
}
