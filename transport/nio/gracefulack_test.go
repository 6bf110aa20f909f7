package nio

import (
	"context"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/testutil"
)

// A frame asking for an ACK that waits for a worker when a Stop whose context has not
// ended closes its connection is delivered, on both engines, as Java Tribes' workers
// deliver the messages they read once the selector closed the channels: Stop closed the
// connection, not its sender, and a graceful Stop delivers what was queued. Its ACK can
// reach no one (the connection is closed): none is counted. EngineGnet dropped it
// (Stats.FramesAbandoned), taking Stop's close for an abandoned frame, while
// EngineGoroutine delivered it.
func TestAckFrameQueuedAtAGracefulStopDelivered(t *testing.T) {
	forEachEngine(t, func(t *testing.T, cfg Config) {
		cfg.Workers = 1
		tr, release, started, delivered := startBlocked(t, cfg)
		t.Cleanup(func() { _ = tr.Stop(context.Background(), channel.SvcAll) })
		t.Cleanup(release.open)
		m := memberOf(tr)
		src, _ := m.MarshalBinary()
		n := &node{t: tr, member: m}
		first := dialRaw(t, n)
		if _, err := first.Write(frame(src, 0, []byte("holds the worker"))); err != nil {
			t.Fatal(err)
		}
		<-started
		synced := dialRaw(t, n)
		if _, err := synced.Write(frame(src, channel.OptUseAck|channel.OptSyncAck, []byte("synchronized"))); err != nil {
			t.Fatal(err)
		}
		testutil.EventuallyTrue(t, waitTimeout, "the synchronized-ack frame decoded", func() bool { return tr.Stats().FramesReceived == 2 })
		stopped := make(chan error, 1)
		go func() { stopped <- tr.Stop(context.Background(), channel.SvcAll) }()
		expectClosed(t, synced) // gnet closes the socket after onClose
		expectClosed(t, first)
		release.open()
		if err := <-stopped; err != nil {
			t.Fatalf("Stop: %v", err)
		}
		if st := tr.Stats(); delivered.Load() != 2 || st.MessagesDelivered != 2 || st.FramesAbandoned != 0 || st.QueuedBytes != 0 {
			t.Fatalf("delivered %d, MessagesDelivered %d, FramesAbandoned %d, QueuedBytes %d: want 2, 2, 0 and 0 (both delivered by a graceful Stop)",
				delivered.Load(), st.MessagesDelivered, st.FramesAbandoned, st.QueuedBytes)
		}
	})
}
