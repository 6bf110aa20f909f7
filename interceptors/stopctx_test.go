package interceptors

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
)

// holdSend is a layer whose first send waits for release whatever its context (a
// transport stuck in a write that ignores it).
type holdSend struct {
	channel.InterceptorBase
	first   atomic.Bool
	entered chan struct{}
	release chan struct{}
	free    sync.Once
}

func newHoldSend() *holdSend {
	return &holdSend{entered: make(chan struct{}), release: make(chan struct{})}
}

func (h *holdSend) SendMessage(ctx context.Context, to []channel.Member, msg *channel.Message) error {
	if h.first.CompareAndSwap(false, true) { // later sends pass (a sync.Once would hold them)
		close(h.entered)
		<-h.release
	}
	return h.Next().SendMessage(ctx, to, msg)
}

func (h *holdSend) open() { h.free.Do(func() { close(h.release) }) }

// within returns a context that ends after d, cancelled at the test's end.
func within(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// returnsWithin runs f and fails the test (after calling unblock, so that f ends) if
// it has not returned within testutil.WaitLimit.
func returnsWithin(t *testing.T, what string, unblock func(), f func() error) error {
	t.Helper()
	res := make(chan error, 1)
	go func() { res <- f() }()
	select {
	case err := <-res:
		return err
	case <-time.After(testutil.WaitLimit):
		unblock()
		<-res
		t.Fatalf("%s with a context of 100 ms still waits after %v", what, testutil.WaitLimit)
		return nil
	}
}

// stopsWithinItsContext checks an interceptor's Stop and Start while one of its goroutines
// is held (what, released by open, a send or check ignoring its ctx): the channel's Stop
// and the interceptor's own Stop with a context of 100 ms return an error wrapping
// context.DeadlineExceeded, so does the channel's Start, which leaves nothing running;
// once open released it, the interceptor's Stop returns nil and the channel starts again.
func stopsWithinItsContext(t *testing.T, ch *channel.Channel, ic channel.Interceptor, what string, open func()) {
	t.Helper()
	short := func(f func(context.Context, channel.Service) error) func() error {
		return func() error { return f(within(t, 100*time.Millisecond), channel.SvcAll) }
	}
	for _, step := range []struct {
		name string
		f    func() error
	}{{"Stop", short(ch.Stop)}, {"Stop again", short(ic.Stop)}, {"Start", short(ch.Start)}} {
		if err := returnsWithin(t, step.name, open, step.f); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("%s with %s held: %v, want context.DeadlineExceeded", step.name, what, err)
		}
	}
	if got := ch.Started(); got != 0 {
		t.Fatalf("a Start that gave up left %v running", got)
	}
	open()
	if err := ic.Stop(within(t, testutil.WaitLimit), channel.SvcAll); err != nil {
		t.Fatalf("Stop once %s was released: %v", what, err)
	}
	if err := ch.Start(within(t, testutil.WaitLimit), channel.SvcAll); err != nil {
		t.Fatalf("Start once %s was released: %v", what, err)
	}
}

// TestPingStopHonoursItsContext: a ping under way held by the layers below (a send that
// ignores its context) kept Stop waiting for it, whatever Stop's ctx, for ever if it never
// returned. Stop now returns an error wrapping ctx's once ctx ends, a later Stop waits
// for the ping again within its own ctx, a Start too and starts nothing when its ctx ends
// first, and both succeed once the ping returned.
func TestPingStopHonoursItsContext(t *testing.T) {
	nw := channeltest.NewNetwork()
	p := must(NewTCPPing(TCPPingConfig{}))
	h := newHoldSend()
	defer h.open()
	a := mbNew(t, nw, mbOpt{id: 1}, p, h)
	b := mbNew(t, nw, mbOpt{id: 2})
	mbStart(t, a, b)
	testutil.EventuallyTrue(t, testutil.WaitLimit, "A sees B", func() bool { return len(a.evs()) == 1 })
	a.ch.Heartbeat()
	select {
	case <-h.entered:
	case <-time.After(testutil.WaitLimit):
		t.Fatal("no ping sent")
	}
	stopsWithinItsContext(t, a.ch, p, "the ping", h.open)
}
