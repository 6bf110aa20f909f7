package replmap_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/replmap"
)

// A MSG_START pass still running when a Stop's context ended (its MSG_BACKUP held by
// b here) outlived that Stop, which returned its context's error, and a later Stop
// returned nil at once, the pass still running. A later Stop now waits for it, and once
// the pass sees the stop it sends no MSG_BACKUP more.
func TestLaterStopWaitsForTheStartPass(t *testing.T) {
	const entries = 10
	nw := channeltest.NewNetwork()
	cfg := replmap.Config{SendOptions: syncAck, RPCTimeout: time.Minute}
	hold := &holdBackups{release: make(chan struct{})}
	a := newChannel(t, nw)
	b := newChannel(t, nw, hold)
	for _, n := range []*node{a, b} {
		testutil.EventuallyTrue(t, testutil.WaitLimit, "channel members", func() bool { return len(n.ch.Members()) == 1 })
		newMap(t, n, cfg)
	}
	start(t, a)
	start(t, b)
	waitMapMembers(t, []*node{a, b}, 1)
	for i := range entries {
		if _, err := a.m.Put(ctx(t), fmt.Sprint("k", i), int32(i)); err != nil {
			t.Fatal(err)
		}
	}
	hold.n.Store(0)
	hold.armed.Store(true)
	released := false
	release := func() {
		if !released {
			released = true
			hold.armed.Store(false)
			close(hold.release)
		}
	}
	t.Cleanup(release)
	if _, err := replmap.AnnounceStart(ctx(t), b.m); err != nil {
		t.Fatal(err)
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "a's pass sends to b", func() bool { return hold.n.Load() > 0 })

	if err := stopWithin(t, a, 200*time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a's Stop whose context ended while its pass ran = %v, want the context's error", err)
	}
	if err := stopWithin(t, a, 200*time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a later Stop while the pass runs = %v, want the context's error", err)
	}
	sent := hold.n.Load()
	release()
	if err := a.m.Stop(ctx(t)); err != nil {
		t.Errorf("a later Stop once the pass can end = %v", err)
	}
	if replmap.StartPassesRunning(a.m) {
		t.Error("a's MSG_START pass still runs after a Stop returned nil")
	}
	if got := hold.n.Load(); got != sent {
		t.Errorf("b received %d MSG_BACKUPs after a's Stop, want none", got-sent)
	}
}
