package channel_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
)

// transportFirst is an interceptor that starts the transport levels below it in a call
// of their own, before the others (as interceptors.StaticMembership does). When the
// others fail to start, it stops the transport levels again itself, with
// FailedStartContext, so that its stop shares the failed Channel.Start's one bound.
type transportFirst struct{ channel.InterceptorBase }

func (s *transportFirst) Start(ctx context.Context, svc channel.Service) error {
	t := svc & channel.SvcTransport
	if t != 0 {
		if err := s.Next().Start(ctx, t); err != nil {
			return err
		}
	}
	if rest := svc &^ channel.SvcTransport; rest != 0 {
		if err := s.Next().Start(ctx, rest); err != nil {
			uctx, cancel := channel.FailedStartContext(ctx)
			defer cancel()
			return errors.Join(err, s.Next().Stop(uctx, t))
		}
	}
	return nil
}

// refusingMembership is a membership service that cannot start.
type refusingMembership struct{ channel.MembershipService }

func (refusingMembership) Start(context.Context, channel.Service, channel.Member, channel.MembershipListener) error {
	return errors.New("membership: no network")
}

// An interceptor that starts the levels below it in several calls undoes its own part of
// a failed Start with FailedStartContext: 5 seconds from the first stop of the undo (or
// Start's ctx), shared with the channel's and the coordinator's stops.
func ExampleFailedStartContext() {
	n := channeltest.NewNetwork().NewNode()
	ch, err := channel.New(channel.Config{Transport: n.Transport(),
		Membership:   refusingMembership{n.Membership()},
		Interceptors: []channel.Interceptor{&transportFirst{}}, HeartbeatInterval: -1})
	if err != nil {
		panic(err)
	}
	err = ch.Start(context.Background(), channel.SvcAll)
	fmt.Println("start:", err)
	fmt.Println("levels running:", ch.Started() != 0)
	// Output:
	// start: tribes: start membership-rx: membership: no network
	// levels running: false
}
