package interceptors

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
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

// heldNoticeTransport is channeltest's transport whose Send of StaticMembership's start
// notice waits until release is closed, whatever its ctx (a send stuck on a peer), and
// closes held when one arrives.
type heldNoticeTransport struct {
	channel.Transport
	held, release chan struct{}
	once          sync.Once
}

func (h *heldNoticeTransport) Send(ctx context.Context, to []channel.Member, msg *channel.Message) error {
	if bytes.Equal(msg.Data, staticMemberStart) {
		h.once.Do(func() { close(h.held) })
		<-h.release
		return nil
	}
	return h.Transport.Send(ctx, to, msg)
}

// heldFailingMembership is channeltest's membership service whose Start fails once the
// start notice is held below.
type heldFailingMembership struct {
	channel.MembershipService
	held chan struct{}
}

func (m heldFailingMembership) Start(ctx context.Context, svc channel.Service, local channel.Member, l channel.MembershipListener) error {
	<-m.held
	return errStartOnce
}

// TestStopAgainReachesAFailedStartsTimedOutUndo: when the membership failed to start,
// StaticMembership's undo stopped the transport levels it had started, but its announcing
// goroutine (a start notice the layers below held) outlived the undo's 5 seconds. The
// channel remembered only the levels whose Stop of its own gave up (the transport's were
// stopped), so a later Stop, meant to wait for that goroutine, found nothing running or
// pending and returned nil at once without reaching StaticMembership. The channel now
// remembers the levels of a failed Start whose undo returned after its bound ended, and
// the next Stop calls the chain's Stop for them: it waits for the goroutine, says so when
// its ctx ends first, and returns nil once it ended.
func TestStopAgainReachesAFailedStartsTimedOutUndo(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := channeltest.NewNetwork().NewNode()
		ghost := channel.Member{Host: []byte{127, 0, 0, 1}, Port: 1, SecurePort: -1, UDPPort: -1, UniqueID: channel.UniqueID{9}}
		sm := must(NewStaticMembership(StaticMembershipConfig{Members: []channel.Member{ghost}}))
		tr := &heldNoticeTransport{Transport: n.Transport(), held: make(chan struct{}), release: make(chan struct{})}
		release := sync.OnceFunc(func() { close(tr.release) })
		defer release()
		ch, err := channel.New(channel.Config{Transport: tr,
			Membership:   heldFailingMembership{MembershipService: n.Membership(), held: tr.held},
			Interceptors: []channel.Interceptor{sm}, HeartbeatInterval: -1})
		if err != nil {
			t.Fatal(err)
		}
		if err := ch.Start(context.Background(), channel.SvcAll); !errors.Is(err, errStartOnce) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Start = %v, want the membership's error and the undo's deadline", err)
		}
		if s := ch.Started(); s != 0 {
			t.Fatalf("Started() = %v after the failed Start, want none", s)
		}

		short, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if err := ch.Stop(short, channel.SvcAll); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Stop, with a deadline, while the announcing goroutine of the failed Start still runs = %v, want context.DeadlineExceeded", err)
		}

		done := make(chan error, 1)
		go func() { done <- ch.Stop(context.Background(), channel.SvcAll) }()
		synctest.Wait()
		select {
		case err := <-done:
			t.Fatalf("Stop, with no deadline, returned %v while the announcing goroutine still ran", err)
		default:
		}
		release()
		if err := <-done; err != nil {
			t.Fatalf("Stop once the announcing goroutine ended = %v", err)
		}
		ended, end := context.WithCancel(context.Background())
		end()
		if err := ch.Stop(ended, channel.SvcAll); err != nil {
			t.Fatalf("Stop once every stop finished = %v, want nil", err)
		}
	})
}
