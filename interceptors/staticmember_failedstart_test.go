package interceptors

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
)

var errStartOnce = errors.New("membership cannot start yet")

// startOnceMembership is channeltest's membership service whose first Start fails.
type startOnceMembership struct {
	channel.MembershipService
	failed atomic.Bool
}

func (f *startOnceMembership) Start(ctx context.Context, svc channel.Service, local channel.Member, l channel.MembershipListener) error {
	if f.failed.CompareAndSwap(false, true) {
		return errStartOnce
	}
	return f.MembershipService.Start(ctx, svc, local, l)
}

// TestStaticMembershipFailedStartLeavesNothingRunning: StaticMembership starts the
// transport levels below it first, then the membership's; when the membership failed to
// start, the receiver and sender ran on while the channel took no level for started, so
// Stop stopped nothing and the next Start failed with ErrAlreadyStarted. The channel now
// stops them (channel.TestFailedStartStopsWhatAnInterceptorStartedBefore).
func TestStaticMembershipFailedStartLeavesNothingRunning(t *testing.T) {
	n := channeltest.NewNetwork().NewNode()
	sm := must(NewStaticMembership(StaticMembershipConfig{}))
	ch, err := channel.New(channel.Config{Transport: n.Transport(),
		Membership:   &startOnceMembership{MembershipService: n.Membership()},
		Interceptors: []channel.Interceptor{sm}, HeartbeatInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	if err := ch.Start(context.Background(), channel.SvcAll); !errors.Is(err, errStartOnce) {
		t.Fatalf("Start = %v, want the membership's error", err)
	}
	if s := ch.Started(); s != 0 {
		t.Errorf("Started() = %v after the failed Start, want none", s)
	}
	if err := ch.Start(context.Background(), channel.SvcAll); err != nil {
		t.Fatalf("Start after the failed one: %v", err)
	}
	if err := ch.Stop(context.Background(), channel.SvcAll); err != nil {
		t.Fatal(err)
	}
}

// TestStaticMembershipFailedStartStopsItsTransport: when the membership levels failed to
// start, StaticMembership's Start returned the error with the transport levels it had
// started first still running (only the channel stopped them). It now stops them itself:
// called alone, it leaves nothing running, and starts again afterwards.
func TestStaticMembershipFailedStartStopsItsTransport(t *testing.T) {
	n := channeltest.NewNetwork().NewNode()
	sm := must(NewStaticMembership(StaticMembershipConfig{}))
	ch, err := channel.New(channel.Config{Transport: n.Transport(),
		Membership:   &startOnceMembership{MembershipService: n.Membership()},
		Interceptors: []channel.Interceptor{sm}, HeartbeatInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	if err := sm.Start(context.Background(), channel.SvcAll); !errors.Is(err, errStartOnce) {
		t.Fatalf("Start = %v, want the membership's error", err)
	}
	if s := ch.Started(); s != 0 {
		t.Errorf("levels %v running below after the interceptor's failed Start, want none", s)
	}
	if err := ch.Start(context.Background(), channel.SvcAll); err != nil {
		t.Fatalf("Start after the failed one: %v", err)
	}
	if err := ch.Stop(context.Background(), channel.SvcAll); err != nil {
		t.Fatal(err)
	}
}
