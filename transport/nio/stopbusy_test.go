package nio

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/testutil"
)

// Stop's context ends while a worker still delivers (gnet, Config.Workers): stopReceiver
// is meant to report it ("nio: receiver workers still busy when the context ended",
// wrapping the context's error) and to skip what is still queued (receiver.dropping). The
// check added so that a completed shutdown is not reported as cut short once returned nil
// whether or not done was closed: Stop reported a clean stop while the worker still ran,
// and the queued messages were delivered after Stop returned. (Found by review.)
func TestStopReportsBusyWorkersWhenItsContextEnds(t *testing.T) {
	const n = 20
	tr, release, delivered := withQueued(t, gnetConfig(), n) // workers deliver; the engine itself stops at once
	r := tr.rcv

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	err := tr.Stop(ctx, channel.SvcAll)
	busy := delivered.Load() == 0 // the worker is still in its first delivery
	release.open()
	if err == nil && busy {
		testutil.EventuallyTrue(t, waitTimeout, "queued frames processed", func() bool { return delivered.Load() == n })
		t.Fatalf("Stop returned nil when its context ended with the worker still delivering (0 of %d delivered); "+
			"dropping=%v, and all %d queued messages were delivered after Stop returned",
			n, r.dropping.Load(), delivered.Load())
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Stop = %v, want the context's error", err)
	}
}
