package nio

import (
	"context"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/testutil"
)

// Stats.FramesAbandoned also counts, on EngineGnet, a frame asking for an ACK whose
// connection the receiver closed itself while the frame waited for a worker, not only one
// whose peer closed it: here FrameTimeout closes the connection, whose partial frame after
// the synchronized-ack one never completes, and the frame is dropped, neither delivered
// nor acknowledged (its ACK can reach no one). Its comment said "their peer closed the
// connection" only.
func TestGnetAckFrameOfAConnectionTheReceiverClosedDropped(t *testing.T) {
	cfg := gnetConfig()
	cfg.Workers = 1
	cfg.FrameTimeout = 300 * time.Millisecond
	tr, release, started, delivered := startBlocked(t, cfg)
	t.Cleanup(func() { _ = tr.Stop(context.Background(), channel.SvcAll) })
	t.Cleanup(release.open)
	m := memberOf(tr)
	src, _ := m.MarshalBinary()
	n := &node{t: tr, member: m}
	if _, err := dialRaw(t, n).Write(frame(src, 0, []byte("holds the worker"))); err != nil {
		t.Fatal(err)
	}
	<-started
	c := dialRaw(t, n)
	partial := frame(src, 0, []byte("never completes"))
	if _, err := c.Write(append(frame(src, channel.OptUseAck|channel.OptSyncAck, []byte("synchronized")), partial[:len(partial)/2]...)); err != nil {
		t.Fatal(err)
	}
	testutil.EventuallyTrue(t, waitTimeout, "the synchronized-ack frame decoded", func() bool { return tr.Stats().FramesReceived == 2 })
	expectClosed(t, c)
	testutil.EventuallyTrue(t, waitTimeout, "the receiver closed the connection (FrameTimeout)", func() bool {
		return tr.Stats().ConnsTimedOut == 1 && peersSeenClosed(tr) == 1
	})
	release.open()
	testutil.EventuallyTrue(t, waitTimeout, "every frame delivered or dropped", func() bool {
		return delivered.Load()+int32(tr.Stats().FramesAbandoned) == 2
	})
	if st := tr.Stats(); delivered.Load() != 1 || st.FramesAbandoned != 1 || st.AcksSent != 0 || st.FailAcksSent != 0 {
		t.Fatalf("delivered %d, FramesAbandoned %d, AcksSent %d, FailAcksSent %d: want 1 (the first), 1, 0 and 0",
			delivered.Load(), st.FramesAbandoned, st.AcksSent, st.FailAcksSent)
	}
}
