package interceptors

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

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
// to start (the rx level starts), and whose Stop waits until its ctx ends.
type txFailingMembership struct{ channel.MembershipService }

func (m txFailingMembership) Start(ctx context.Context, svc channel.Service, local channel.Member, l channel.MembershipListener) error {
	if svc&channel.SvcMembershipTx != 0 {
		return errStartOnce
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

// TestStaticMembershipFailedStartSharesTheUndoBound: the channel's Start promises that a
// failed Start stops what it started within 5 seconds of failing. Under a
// StaticMembership whose membership levels failed to start, the coordinator stopped the
// membership-rx level it had started within 5 seconds, and then StaticMembership stopped
// the transport levels it had started first within 5 seconds of its own: levels that
// never finished stopping kept the failed Start 10 seconds. StaticMembership now stops
// them with channel.FailedStartContext, within the bound the coordinator's stop fixed.
func TestStaticMembershipFailedStartSharesTheUndoBound(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := channeltest.NewNetwork().NewNode()
		sm := must(NewStaticMembership(StaticMembershipConfig{}))
		ch, err := channel.New(channel.Config{Transport: ctxStopTransport{n.Transport()},
			Membership:   txFailingMembership{n.Membership()},
			Interceptors: []channel.Interceptor{sm}, HeartbeatInterval: -1})
		if err != nil {
			t.Fatal(err)
		}
		began := time.Now()
		err = ch.Start(context.Background(), channel.SvcAll)
		if took := time.Since(began); took != 5*time.Second {
			t.Errorf("the failed Start took %v, want 5s: StaticMembership's undo has a bound of its own", took)
		}
		if !errors.Is(err, errStartOnce) || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Start = %v, want the membership's error and the stops' deadline", err)
		}
		if s := ch.Started(); s != 0 {
			t.Errorf("Started() = %v after the failed Start, want none", s)
		}
	})
}
