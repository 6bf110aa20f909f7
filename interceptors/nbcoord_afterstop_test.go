package interceptors

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
)

// holdLog is a slog.Handler that holds the first record whose message is msg until
// open is called: a hook on the goroutine that logs it.
type holdLog struct {
	msg     string
	once    sync.Once
	free    sync.Once
	entered chan struct{}
	release chan struct{}
}

func newHoldLog(msg string) *holdLog {
	return &holdLog{msg: msg, entered: make(chan struct{}), release: make(chan struct{})}
}

func (h *holdLog) Enabled(context.Context, slog.Level) bool { return true }

func (h *holdLog) Handle(_ context.Context, r slog.Record) error {
	if r.Message == h.msg {
		h.once.Do(func() {
			close(h.entered)
			<-h.release
		})
	}
	return nil
}

func (h *holdLog) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *holdLog) WithGroup(string) slog.Handler      { return h }
func (h *holdLog) open()                              { h.free.Do(func() { close(h.release) }) }

func (h *holdLog) wait(t *testing.T) {
	t.Helper()
	select {
	case <-h.entered:
	case <-time.After(testutil.WaitLimit):
		t.Fatalf("nothing logged %q", h.msg)
	}
}

// TestNonBlockingCoordinatorNoViewChangeAfterItsStop: the goroutine checked that its run
// was still running when it installed a view, then logged it and called OnViewChange; a
// Stop that began between the check and the call (here the log is held) and returned
// (its ctx ended) was followed by an OnViewChange call of the stopped run. The check and
// the listener call's mark are now one step, so no call begins once Stop marked the run
// stopped.
func TestNonBlockingCoordinatorNoViewChangeAfterItsStop(t *testing.T) {
	h := newHoldLog("tribes coordinator: view installed")
	defer h.open()
	var stopped atomic.Bool
	var late atomic.Int32
	c := must(NewNonBlockingCoordinator(NonBlockingCoordinatorConfig{
		Logger: slog.New(h),
		OnViewChange: func([]channel.Member, [16]byte) {
			if stopped.Load() {
				late.Add(1)
			}
		},
	}))
	n := newNode(t, channeltest.NewNetwork(), c)
	if err := n.ch.Start(context.Background(), channel.SvcAll); err != nil {
		t.Fatal(err)
	}
	h.wait(t) // alone, the coordinator installs its own view at once
	err := returnsWithin(t, "Stop", h.open, func() error {
		return n.ch.Stop(within(t, 100*time.Millisecond), channel.SvcAll)
	})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Stop with the install held: %v, want context.DeadlineExceeded", err)
	}
	stopped.Store(true)
	h.open()
	// A Stop that returns nil has waited for the goroutine: the install is over.
	if err := c.Stop(within(t, testutil.WaitLimit), channel.SvcAll); err != nil {
		t.Fatalf("Stop once the log returned: %v", err)
	}
	if got := late.Load(); got != 0 {
		t.Fatalf("OnViewChange called %d times after the Stop returned", got)
	}
}
