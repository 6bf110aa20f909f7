package interceptors

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
)

// TestFailureDetectorStopHonoursItsContext: Stop gave up waiting for a check under way
// once its ctx ended but returned no error, and a later Stop and a Start did not wait for
// that check, so a caller took the detector for stopped while its goroutine still ran.
// Stop now returns an error wrapping ctx's once ctx ends, a later Stop waits for the
// check again within its own ctx, a Start too and starts nothing when its ctx ends first,
// and both succeed once the check returned.
func TestFailureDetectorStopHonoursItsContext(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	var once, free sync.Once
	open := func() { free.Do(func() { close(release) }) }
	defer open()
	d := must(NewTCPFailureDetector(TCPFailureDetectorConfig{
		// A probe that ignores its context (a connect that does not give up).
		Probe: func(context.Context, channel.Member) error {
			once.Do(func() { close(entered) })
			<-release
			return nil
		},
	}))
	nw := channeltest.NewNetwork()
	a := mbNew(t, nw, mbOpt{id: 1}, d)
	b := mbNew(t, nw, mbOpt{id: 2})
	mbStart(t, a, b)
	select {
	case <-entered:
	case <-time.After(testutil.WaitLimit):
		t.Fatal("the added member was not checked")
	}
	err := returnsWithin(t, "Stop", open, func() error {
		return a.ch.Stop(within(t, 100*time.Millisecond), channel.SvcAll)
	})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Stop with the check held: %v, want context.DeadlineExceeded", err)
	}
	err = returnsWithin(t, "Stop again", open, func() error {
		return d.Stop(within(t, 100*time.Millisecond), channel.SvcAll)
	})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Stop again with the check held: %v, want context.DeadlineExceeded", err)
	}
	err = returnsWithin(t, "Start", open, func() error {
		return a.ch.Start(within(t, 100*time.Millisecond), channel.SvcAll)
	})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Start with the check held: %v, want context.DeadlineExceeded", err)
	}
	if got := a.ch.Started(); got != 0 {
		t.Fatalf("a Start that gave up left %v running", got)
	}
	open()
	if err := d.Stop(within(t, testutil.WaitLimit), channel.SvcAll); err != nil {
		t.Fatalf("Stop once the check returned: %v", err)
	}
	if err := a.ch.Start(within(t, testutil.WaitLimit), channel.SvcAll); err != nil {
		t.Fatalf("Start once the check returned: %v", err)
	}
}
