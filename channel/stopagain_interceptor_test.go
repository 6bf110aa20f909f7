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

// lingeringInterceptor stops as interceptors.StaticMembership, TCPPing or
// NonBlockingCoordinator do: its Stop ends its run, whose goroutine ends only when the
// test calls finish, waits for it within ctx and, when ctx ends first, returns an error
// wrapping ctx's; a later Stop waits for that goroutine again within its own ctx. Unlike
// those, its Start does not wait for it: it records a start while the goroutine still
// runs.
type lingeringInterceptor struct {
	channel.InterceptorBase
	release chan struct{}
	once    sync.Once

	mu       sync.Mutex
	running  bool
	stopping chan struct{} // closed when the run's goroutine ended; nil before any stop
	stops    atomic.Int32  // Stop calls
	raced    atomic.Bool   // started while the goroutine of the last run still ran
}

func newLingeringInterceptor() *lingeringInterceptor {
	return &lingeringInterceptor{release: make(chan struct{})}
}

func (l *lingeringInterceptor) finish() { l.once.Do(func() { close(l.release) }) }

func (l *lingeringInterceptor) Start(ctx context.Context, svc channel.Service) error {
	if err := l.Next().Start(ctx, svc); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if s := l.stopping; s != nil {
		select {
		case <-s:
		default:
			l.raced.Store(true)
		}
	}
	l.running = true
	return nil
}

func (l *lingeringInterceptor) Stop(ctx context.Context, svc channel.Service) error {
	l.stops.Add(1)
	l.mu.Lock()
	if l.running {
		l.running = false
		done := make(chan struct{})
		l.stopping = done
		go func() {
			<-l.release
			close(done)
		}()
	}
	s := l.stopping
	l.mu.Unlock()
	var err error
	if s != nil {
		select {
		case <-s:
		case <-ctx.Done():
			err = fmt.Errorf("lingering interceptor: its goroutine still runs: %w", ctx.Err())
		}
	}
	return errors.Join(err, l.Next().Stop(ctx, svc))
}

func newLingeringInterceptorChannel(t *testing.T) (*lingeringInterceptor, *channel.Channel) {
	t.Helper()
	n := channeltest.NewNetwork().NewNode()
	li := newLingeringInterceptor()
	ch, err := channel.New(channel.Config{Transport: n.Transport(), Membership: n.Membership(),
		Interceptors: []channel.Interceptor{li}, HeartbeatInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	return li, ch
}

// TestStopAgainReachesAnInterceptorsTimedOutStop: the channel remembered only the
// levels whose transport or membership Stop gave up when ctx ended
// (TestStopAgainWaitsForATimedOutStop), not an interceptor's: after a Stop whose ctx ended
// while an interceptor's goroutine still ran (the transport and membership stopped), a
// later Stop, one with a longer ctx meant to wait for it, found nothing to stop and
// returned nil at once without reaching the interceptor. The channel now remembers the
// levels whose Stop down the chain returned an error once its ctx had ended, and the next
// Stop calls the chain's Stop again for them: it waits for the interceptor, and says so
// when its ctx ends first.
func TestStopAgainReachesAnInterceptorsTimedOutStop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		li, ch := newLingeringInterceptorChannel(t)
		defer li.finish()
		if err := ch.Start(context.Background(), channel.SvcAll); err != nil {
			t.Fatal(err)
		}
		if err := ch.Stop(endedContext(), channel.SvcAll); !errors.Is(err, context.Canceled) {
			t.Fatalf("Stop with an ended ctx while the interceptor stops = %v, want context.Canceled", err)
		}

		short, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if err := ch.Stop(short, channel.SvcAll); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("second Stop, with a deadline, while the interceptor still stops = %v (the interceptor's Stop called %d times), want context.DeadlineExceeded",
				err, li.stops.Load())
		}

		done := make(chan error, 1)
		go func() { done <- ch.Stop(context.Background(), channel.SvcAll) }()
		synctest.Wait()
		select {
		case err := <-done:
			t.Fatalf("third Stop, with no deadline, returned %v while the interceptor still stopped", err)
		default:
		}
		li.finish()
		if err := <-done; err != nil {
			t.Fatalf("third Stop = %v once the interceptor's stop finished", err)
		}
		stops := li.stops.Load()
		if err := ch.Stop(endedContext(), channel.SvcAll); err != nil {
			t.Fatalf("Stop once every stop finished = %v, want nil (nothing to stop)", err)
		}
		if n := li.stops.Load(); n != stops {
			t.Errorf("a Stop with nothing running or stopping called the interceptor's Stop again")
		}
	})
}

// TestStartAfterAnInterceptorsTimedOutStopWaitsForIt: a Start after a Stop whose ctx
// ended while an interceptor still stopped started the chain alongside that stop. Start
// now calls the chain's Stop again for those levels, with its own ctx, before starting
// them: it waits for the interceptor, and when its ctx ends first it returns an error
// wrapping ctx's and starts nothing.
func TestStartAfterAnInterceptorsTimedOutStopWaitsForIt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		li, ch := newLingeringInterceptorChannel(t)
		defer li.finish()
		if err := ch.Start(context.Background(), channel.SvcAll); err != nil {
			t.Fatal(err)
		}
		if err := ch.Stop(endedContext(), channel.SvcAll); !errors.Is(err, context.Canceled) {
			t.Fatalf("Stop with an ended ctx while the interceptor stops = %v, want context.Canceled", err)
		}

		short, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		err := ch.Start(short, channel.SvcAll)
		if li.raced.Load() {
			t.Fatal("the interceptor was started while the stop of the earlier Stop still ran")
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Start with a deadline while the interceptor still stops = %v, want context.DeadlineExceeded", err)
		}
		if s := ch.Started(); s != 0 {
			t.Fatalf("Started() = %v after a Start that gave up, want none", s)
		}

		done := make(chan error, 1)
		go func() { done <- ch.Start(context.Background(), channel.SvcAll) }()
		synctest.Wait()
		select {
		case err := <-done:
			t.Fatalf("Start returned %v while the interceptor still stopped", err)
		default:
		}
		li.finish()
		if err := <-done; err != nil {
			t.Fatalf("Start once the interceptor's stop finished: %v", err)
		}
		if li.raced.Load() {
			t.Fatal("the interceptor was started while the stop of the earlier Stop still ran")
		}
		if err := ch.Stop(context.Background(), channel.SvcAll); err != nil {
			t.Fatal(err)
		}
	})
}
