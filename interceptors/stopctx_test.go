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
	err := returnsWithin(t, "Stop", h.open, func() error {
		return a.ch.Stop(within(t, 100*time.Millisecond), channel.SvcAll)
	})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Stop with the ping held: %v, want context.DeadlineExceeded", err)
	}
	err = returnsWithin(t, "Stop again", h.open, func() error {
		return p.Stop(within(t, 100*time.Millisecond), channel.SvcAll)
	})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Stop again with the ping held: %v, want context.DeadlineExceeded", err)
	}
	err = returnsWithin(t, "Start", h.open, func() error {
		return a.ch.Start(within(t, 100*time.Millisecond), channel.SvcAll)
	})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Start with the ping held: %v, want context.DeadlineExceeded", err)
	}
	if got := a.ch.Started(); got != 0 {
		t.Fatalf("a Start that gave up left %v running", got)
	}
	h.open()
	if err := p.Stop(within(t, testutil.WaitLimit), channel.SvcAll); err != nil {
		t.Fatalf("Stop once the ping returned: %v", err)
	}
	if err := a.ch.Start(within(t, testutil.WaitLimit), channel.SvcAll); err != nil {
		t.Fatalf("Start once the ping returned: %v", err)
	}
}
