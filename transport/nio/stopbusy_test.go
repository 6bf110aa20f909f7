package nio

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/testutil"
)

// Stop's context ends while a worker still delivers (gnet, Config.Workers): stopReceiver
// is meant to report it ("nio: receiver workers still busy when the context ended",
// wrapping the context's error) and to skip what is still queued (receiver.dropping). The
// check added so that a completed shutdown is not reported as cut short calls
// doneOr(done, nil), which returns nil whether or not done is closed: Stop reports a clean
// stop while the worker still runs, and the queued messages are delivered after Stop
// returned.
func TestStopReportsBusyWorkersWhenItsContextEnds(t *testing.T) {
	const n = 20
	cfg := gnetConfig() // workers deliver; the engine itself stops at once
	cfg.Workers = 1
	tr, release, started, delivered := startBlocked(t, cfg)
	t.Cleanup(func() {
		release.open()
		_ = tr.Stop(context.Background(), channel.SvcAll)
	})
	m := memberOf(tr)
	src, _ := m.MarshalBinary()
	c, err := net.Dial("tcp", m.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var stream []byte
	for i := range n {
		stream = append(stream, frame(src, 0, seqPayload(i))...)
	}
	if _, err := c.Write(stream); err != nil {
		t.Fatal(err)
	}
	<-started
	testutil.EventuallyTrue(t, waitTimeout, "all frames decoded", func() bool { return tr.Stats().FramesReceived == n })
	r := tr.rcv

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	err = tr.Stop(ctx, channel.SvcAll)
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
