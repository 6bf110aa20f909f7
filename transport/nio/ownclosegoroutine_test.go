package nio

import (
	"sync"
	"sync/atomic"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/testutil"
)

// EngineGoroutine drops, as EngineGnet does (TestGnetAckFrameOfAConnectionTheReceiverClosedDropped),
// a frame asking for an ACK not written yet whose connection the receiver closed itself
// before the frame's turn: here the sweeper's close for unread ACKs (gconn.expire, made
// from the hook as the first ACK write of a batch of two synchronized-ack frames begins)
// ends the connection, the first frame delivered already, and the second is dropped,
// neither delivered nor acknowledged (Stats.FramesAbandoned). Before, it asked only the
// socket whether the peer was gone, which a closed descriptor never says, and delivered
// the second frame, its ACK going nowhere.
func TestGoroutineAckFrameOfAConnectionTheReceiverClosedDropped(t *testing.T) {
	var once sync.Once
	ackWriteHook = func(gc *gconn) {
		once.Do(func() {
			gc.expire(&gc.r.st.connsStalled, "acks-unread", "did not read its ACKs within FrameTimeout", 0)
		})
	}
	t.Cleanup(func() { ackWriteHook = nil }) // after Stop (cleanups run last first)
	cfg := goroutineConfig()
	var delivered atomic.Int32
	b := startNode(t, cfg, func(*channel.Message) error {
		delivered.Add(1)
		return nil
	})
	opts := channel.OptUseAck | channel.OptSyncAck
	c := dialRaw(t, b)
	if _, err := c.Write(append(frame(b.wire, opts, []byte("first")), frame(b.wire, opts, []byte("second"))...)); err != nil {
		t.Fatal(err)
	}
	expectClosed(t, c)
	testutil.EventuallyTrue(t, waitTimeout, "both frames delivered or dropped", func() bool {
		return delivered.Load()+int32(b.t.Stats().FramesAbandoned) == 2
	})
	if st := b.t.Stats(); st.FramesReceived != 2 || delivered.Load() != 1 || st.FramesAbandoned != 1 || st.AcksSent != 0 || st.ConnsStalled != 1 {
		t.Fatalf("FramesReceived %d, delivered %d, FramesAbandoned %d, AcksSent %d, ConnsStalled %d: want 2, 1 (the first), 1, 0 and 1",
			st.FramesReceived, delivered.Load(), st.FramesAbandoned, st.AcksSent, st.ConnsStalled)
	}
}
