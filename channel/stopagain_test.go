package channel_test

import (
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

// lingeringTransport is channeltest's transport whose receiver stops as transport/nio's
// does: Stop begins a stop that goes on in the background until the test calls finish,
// waits for it within its ctx and, when ctx ends first, returns an error wrapping
// ctx.Err(); a later Stop of the stopped receiver waits for that stop again, within its
// own ctx. Its Start, unlike nio's, does not wait for that stop: it records a start of
// the receiver while the stop still runs.
type lingeringTransport struct {
	channel.Transport
	release chan struct{} // closed by finish: the background stop ends
	once    sync.Once

	mu       sync.Mutex
	running  bool          // the receiver runs
	stopping chan struct{} // closed when the background stop ended; nil before any stop
	raced    atomic.Bool   // the receiver was started while its stop still ran
}

func newLingeringTransport(n *channeltest.Node) *lingeringTransport {
	return &lingeringTransport{Transport: n.Transport(), release: make(chan struct{})}
}

// finish ends the background stop of the receiver.
func (l *lingeringTransport) finish() { l.once.Do(func() { close(l.release) }) }

func (l *lingeringTransport) Start(ctx context.Context, svc channel.Service, rx channel.ReceiveFunc) error {
	if svc&channel.SvcReceiver != 0 {
		l.mu.Lock()
		if s := l.stopping; s != nil {
			select {
			case <-s:
			default:
				l.raced.Store(true)
			}
		}
		l.running = true
		l.mu.Unlock()
	}
	return l.Transport.Start(ctx, svc, rx)
}

func (l *lingeringTransport) Stop(ctx context.Context, svc channel.Service) error {
	if err := l.Transport.Stop(ctx, svc&^channel.SvcReceiver); err != nil || svc&channel.SvcReceiver == 0 {
		return err
	}
	l.mu.Lock()
	if l.running {
		l.running = false
		done := make(chan struct{})
		l.stopping = done
		go func() {
			<-l.release
			_ = l.Transport.Stop(context.Background(), channel.SvcReceiver)
			close(done)
		}()
	}
	s := l.stopping
	l.mu.Unlock()
	if s == nil {
		return nil
	}
	select {
	case <-s:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("lingering: the receiver still stops: %w", ctx.Err())
	}
}

func newLingeringChannel(t *testing.T) (*lingeringTransport, *channel.Channel) {
	t.Helper()
	n := channeltest.NewNetwork().NewNode()
	tr := newLingeringTransport(n)
	ch, err := channel.New(channel.Config{Transport: tr, Membership: n.Membership(), HeartbeatInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	return tr, ch
}

func endedContext() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

// TestStopAgainWaitsForATimedOutStop: a Stop whose ctx ended while the receiver still
// stopped returns ctx's error; the channel took the levels for stopped, so a later Stop,
// one with a longer ctx meant to wait for that stop among them, returned nil at once
// while the receiver still stopped. A later Stop now asks the transport again with its
// own ctx: it waits for the stop still running and, when its ctx ends first, says so.
func TestStopAgainWaitsForATimedOutStop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr, ch := newLingeringChannel(t)
		defer tr.finish()
		if err := ch.Start(context.Background(), channel.SvcAll); err != nil {
			t.Fatal(err)
		}
		if err := ch.Stop(endedContext(), channel.SvcAll); !errors.Is(err, context.Canceled) {
			t.Fatalf("Stop with an ended ctx while the receiver stops = %v, want context.Canceled", err)
		}
		if s := ch.Started(); s != 0 {
			t.Fatalf("Started() = %v after the Stop, want none", s)
		}

		short, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if err := ch.Stop(short, channel.SvcAll); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("second Stop, with a deadline, while the receiver still stops = %v, want context.DeadlineExceeded", err)
		}

		done := make(chan error, 1)
		go func() { done <- ch.Stop(context.Background(), channel.SvcAll) }()
		synctest.Wait()
		select {
		case err := <-done:
			t.Fatalf("third Stop, with no deadline, returned %v while the receiver still stopped", err)
		default:
		}
		tr.finish()
		if err := <-done; err != nil {
			t.Fatalf("third Stop = %v once the receiver's stop finished", err)
		}
		if err := ch.Stop(endedContext(), channel.SvcAll); err != nil {
			t.Fatalf("Stop once every stop finished = %v, want nil (nothing to stop)", err)
		}
	})
}

// TestStartAfterATimedOutStopWaitsForIt: a Start of the receiver after a Stop whose ctx
// ended while the receiver still stopped started it at once, alongside that stop (a
// transport that does not wait for it itself, as nio does, got its receiver started
// twice). Start now asks the transport to stop the level again, with its own ctx, before
// starting it: it waits for the old stop, and when its ctx ends first it returns an
// error wrapping ctx's and starts nothing. Starting another level does not wait.
func TestStartAfterATimedOutStopWaitsForIt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr, ch := newLingeringChannel(t)
		defer tr.finish()
		if err := ch.Start(context.Background(), channel.SvcAll); err != nil {
			t.Fatal(err)
		}
		if err := ch.Stop(endedContext(), channel.SvcAll); !errors.Is(err, context.Canceled) {
			t.Fatalf("Stop with an ended ctx while the receiver stops = %v, want context.Canceled", err)
		}

		short, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		err := ch.Start(short, channel.SvcAll)
		if tr.raced.Load() {
			t.Fatal("the receiver was started while the stop of the earlier Stop still ran")
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Start with a deadline while the receiver still stops = %v, want context.DeadlineExceeded", err)
		}
		if s := ch.Started(); s != 0 {
			t.Fatalf("Started() = %v after a Start that gave up, want none", s)
		}

		if err := ch.Start(context.Background(), channel.SvcSender); err != nil {
			t.Fatalf("Start of the sender alone while the receiver still stops: %v", err)
		}
		done := make(chan error, 1)
		go func() { done <- ch.Start(context.Background(), channel.SvcReceiver|channel.SvcMembership) }()
		synctest.Wait()
		select {
		case err := <-done:
			t.Fatalf("Start of the receiver returned %v while the receiver still stopped", err)
		default:
		}
		tr.finish()
		if err := <-done; err != nil {
			t.Fatalf("Start once the receiver's stop finished: %v", err)
		}
		if tr.raced.Load() {
			t.Fatal("the receiver was started while the stop of the earlier Stop still ran")
		}
		if s := ch.Started(); s != channel.SvcAll {
			t.Fatalf("Started() = %v, want every level", s)
		}
		if err := ch.Stop(context.Background(), channel.SvcAll); err != nil {
			t.Fatal(err)
		}
	})
}

// failingMembership is channeltest's membership service whose Start fails at once.
type failingMembership struct{ channel.MembershipService }

func (failingMembership) Start(context.Context, channel.Service, channel.Member, channel.MembershipListener) error {
	return errMembershipStart
}

// TestFailedStartStopsWithinABoundedContext: a Start that fails stops again the levels it
// started; it stopped them with a context that never ends, so a level whose Stop waits
// (a receiver finishing its deliveries) kept the failed Start waiting for as long, for
// ever if it never finished, whatever Start's ctx. That stop is now bounded by Start's
// ctx, if still live, and by 5 seconds; the level is then left stopping, and a later
// Stop waits for it.
func TestFailedStartStopsWithinABoundedContext(t *testing.T) {
	for _, tc := range []struct {
		name    string
		timeout time.Duration // Start's ctx; 0: none
		bound   time.Duration // how long the failed Start may take
	}{
		{"ctx without deadline", 0, 5 * time.Second},
		{"ctx with deadline", 2 * time.Second, 2 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				n := channeltest.NewNetwork().NewNode()
				tr := newLingeringTransport(n)
				defer tr.finish()
				ch, err := channel.New(channel.Config{Transport: tr, Membership: failingMembership{n.Membership()},
					HeartbeatInterval: -1})
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
				done := make(chan error, 1)
				go func() { done <- ch.Start(ctx, channel.SvcAll) }()
				select {
				case err = <-done:
				case <-time.After(time.Hour):
					t.Fatal("the failed Start still waited, after an hour, for the receiver it started to stop")
				}
				if took := time.Since(began); took > tc.bound {
					t.Errorf("the failed Start took %v, want at most %v", took, tc.bound)
				}
				if !errors.Is(err, errMembershipStart) {
					t.Errorf("Start = %v, want the membership's error", err)
				}
				if !errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("Start = %v, want it to say the receiver's stop did not finish (context.DeadlineExceeded)", err)
				}
				if s := ch.Started(); s != 0 {
					t.Errorf("Started() = %v after the failed Start, want none", s)
				}

				stopped := make(chan error, 1)
				go func() { stopped <- ch.Stop(context.Background(), channel.SvcAll) }()
				synctest.Wait()
				select {
				case err := <-stopped:
					t.Fatalf("Stop returned %v while the receiver the failed Start stopped still stopped", err)
				default:
				}
				tr.finish()
				if err := <-stopped; err != nil {
					t.Fatalf("Stop once the receiver's stop finished = %v", err)
				}
			})
		})
	}
}

// cancellingMembership is channeltest's membership service whose Start ends Start's ctx
// (cancel) and fails.
type cancellingMembership struct {
	channel.MembershipService
	cancel context.CancelFunc
}

func (c cancellingMembership) Start(context.Context, channel.Service, channel.Member, channel.MembershipListener) error {
	c.cancel()
	return errMembershipStart
}

// TestFailedStartWithAnEndedContextStillStopsItsLevels: a Start that failed once its ctx
// had ended gives the levels it started 5 seconds to stop all the same: a receiver that
// takes 3 of them stops within the failed Start, which then reports the start's failure
// alone, and leaves nothing stopping.
func TestFailedStartWithAnEndedContextStillStopsItsLevels(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := channeltest.NewNetwork().NewNode()
		tr := newLingeringTransport(n)
		defer tr.finish()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		ch, err := channel.New(channel.Config{Transport: tr,
			Membership: cancellingMembership{MembershipService: n.Membership(), cancel: cancel}, HeartbeatInterval: -1})
		if err != nil {
			t.Fatal(err)
		}
		time.AfterFunc(3*time.Second, tr.finish)
		began := time.Now()
		err = ch.Start(ctx, channel.SvcAll)
		if took := time.Since(began); took != 3*time.Second {
			t.Errorf("the failed Start took %v, want the 3s the receiver took to stop", took)
		}
		if !errors.Is(err, errMembershipStart) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Start = %v, want the membership's error alone", err)
		}
		if s := ch.Started(); s != 0 {
			t.Errorf("Started() = %v after the failed Start, want none", s)
		}
		if err := ch.Stop(endedContext(), channel.SvcAll); err != nil {
			t.Errorf("Stop after the failed Start = %v, want nil: nothing left stopping", err)
		}
	})
}
