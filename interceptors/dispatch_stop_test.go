package interceptors

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
)

// TestDispatchStopHonoursItsContext: once Stop's ctx ended, Stop cancelled the sends in
// progress and failed the queued messages, then waited for its workers without a bound,
// so a send held by the layers below (one that ignores its context) kept Stop, and the
// channel's Stop with it, waiting for ever. Stop now returns an error wrapping ctx's; a
// later Stop waits for the worker again within its own ctx, a Start too and starts no
// worker beside it (nor the layers below) when its ctx ends first; every message
// completes once, and both succeed once the send returned.
func TestDispatchStopHonoursItsContext(t *testing.T) {
	nw := channeltest.NewNetwork()
	d := newDispatch(t, DispatchConfig{MaxThreads: 1})
	h := newHoldSend()
	defer h.open()
	a, b := newNode(t, nw, d, h), newNode(t, nw)
	startNodes(t, a, b)
	var out outcomes
	for i := range 2 { // the first is held below, the second stays queued
		if err := sendAsync(t, a, b, seqData(i, 8), out.cb()); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-h.entered:
	case <-time.After(testutil.WaitLimit):
		t.Fatal("no send reached the layer below")
	}
	err := returnsWithin(t, "Stop", h.open, func() error {
		return a.ch.Stop(within(t, 100*time.Millisecond), channel.SvcAll)
	})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Stop with a send held: %v, want context.DeadlineExceeded", err)
	}
	// The queued message's callback runs on a goroutine of its own, not waited for.
	testutil.EventuallyTrue(t, testutil.WaitLimit, "the queued message completed", func() bool { return len(out.get()) == 1 })
	if errs := out.get(); len(errs) != 1 || !errors.Is(errs[0], ErrDispatchStopped) {
		t.Fatalf("completions after Stop: %v, want the queued message's ErrDispatchStopped", errs)
	}
	err = returnsWithin(t, "Stop again", h.open, func() error {
		return d.Stop(within(t, 100*time.Millisecond), channel.SvcAll)
	})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Stop again with a send held: %v, want context.DeadlineExceeded", err)
	}
	err = returnsWithin(t, "Start", h.open, func() error {
		return d.Start(within(t, 100*time.Millisecond), channel.SvcAll)
	})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("the dispatcher's Start with a send held: %v, want context.DeadlineExceeded", err)
	}
	if err := sendAsync(t, a, b, []byte("late"), out.cb()); !errors.Is(err, ErrDispatchStopped) {
		t.Fatalf("send after a Start that gave up: %v, want ErrDispatchStopped (no worker started)", err)
	}
	err = returnsWithin(t, "the channel's Start", h.open, func() error {
		return a.ch.Start(within(t, 100*time.Millisecond), channel.SvcAll)
	})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("the channel's Start with a send held: %v, want context.DeadlineExceeded", err)
	}
	if got := a.ch.Started(); got != 0 {
		t.Fatalf("a Start that gave up left %v running", got)
	}
	h.open()
	if err := d.Stop(within(t, testutil.WaitLimit), channel.SvcAll); err != nil {
		t.Fatalf("Stop once the send returned: %v", err)
	}
	if errs := out.get(); len(errs) != 2 || !errors.Is(errs[1], ErrDispatchStopped) {
		t.Fatalf("completions: %v, want two, the cancelled send's wrapping ErrDispatchStopped", errs)
	}
	if err := a.ch.Start(within(t, testutil.WaitLimit), channel.SvcAll); err != nil {
		t.Fatalf("Start once the send returned: %v", err)
	}
	done := make(chan error, 1)
	if err := sendAsync(t, a, b, []byte("again"), func(err error) { done <- err }); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("send after the restart: %v", err)
		}
	case <-time.After(testutil.WaitLimit):
		t.Fatal("the send after the restart did not complete")
	}
	if err := a.ch.Stop(within(t, testutil.WaitLimit), channel.SvcAll); err != nil {
		t.Fatal(err)
	}
}

// TestDispatchIdleStopWithAnEndedContext: a dispatcher with nothing queued or in flight
// whose Stop came with a context that had ended already (a shutdown's cancelled context)
// returned an error wrapping ctx's, "0 queued messages failed", when its idle workers had
// not yet been scheduled to end, and left the channel's level stopping; idle workers send
// nothing, so Stop now waits for them and returns nil, and a later Stop has nothing to
// wait for.
func TestDispatchIdleStopWithAnEndedContext(t *testing.T) {
	nw := channeltest.NewNetwork()
	d := newDispatch(t, DispatchConfig{MaxThreads: 4})
	a, b := newNode(t, nw, d), newNode(t, nw)
	startNodes(t, a, b)
	var out outcomes
	if err := sendAsync(t, a, b, seqData(0, 8), out.cb()); err != nil {
		t.Fatal(err)
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "the message sent", func() bool { return len(out.get()) == 1 })
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	for i := range 20 { // idle workers not yet scheduled: the race the fix removes
		if err := d.Stop(ended, channel.SvcAll); err != nil {
			t.Fatalf("Stop %d of an idle dispatcher with an ended context: %v, want nil", i, err)
		}
		if err := d.Start(context.Background(), channel.SvcAll); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.ch.Stop(ended, channel.SvcAll); err != nil {
		t.Fatalf("the channel's Stop of an idle dispatcher with an ended context: %v, want nil", err)
	}
	if errs := out.get(); len(errs) != 1 || errs[0] != nil {
		t.Fatalf("completions: %v, want one nil", errs)
	}
}
