package nio

import (
	"context"
	"runtime"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/testutil"
)

// EngineGoroutine reads nothing while a connection waits (for MaxQueuedBytes room, or
// with a synchronized-ack frame for one of the Workers slots), so it did not notice a peer
// that closed meanwhile: once its turn came, the frame was delivered and its ACK went to
// the closed socket. Its sender had given up on it (its Timeout, or ErrConnectionLost) and
// may have sent it again (MaxRetryAttempts), which delivered it twice. A frame asking for
// an ACK whose peer closed while it waited is now dropped before its delivery and its
// ACK, counted in Stats.FramesAbandoned; a frame without ACK is still delivered: its
// sender took it for sent (docs/operations.md, beside MaxRetryAttempts).
func TestGoroutineAckFramesOfAClosedPeerDropped(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("a peer's close is seen while a frame waits on Linux only")
	}
	cfg := goroutineConfig()
	cfg.Workers = 1
	cfg.MaxQueuedBytes = 1024
	tr, release, started, delivered := startBlocked(t, cfg)
	t.Cleanup(func() { _ = tr.Stop(context.Background(), channel.SvcAll) })
	t.Cleanup(release.open)
	m := memberOf(tr)
	src, _ := m.MarshalBinary()
	n := &node{t: tr, member: m}
	if _, err := dialRaw(t, n).Write(frame(src, 0, make([]byte, 600))); err != nil {
		t.Fatal(err)
	}
	<-started // the only slot, and 600 bytes of the budget's 1024, are taken
	// A synchronized-ack frame fits the budget and waits for the slot.
	slot := dialRaw(t, n)
	if _, err := slot.Write(frame(src, channel.OptUseAck|channel.OptSyncAck, make([]byte, 100))); err != nil {
		t.Fatal(err)
	}
	testutil.EventuallyTrue(t, waitTimeout, "the synchronized-ack frame decoded", func() bool { return tr.Stats().FramesReceived == 2 })
	// An ACK-mode frame, then one without ACK, do not fit: their connections wait for
	// room, not reading.
	room := dialRaw(t, n)
	if _, err := room.Write(frame(src, channel.OptUseAck, make([]byte, 600))); err != nil {
		t.Fatal(err)
	}
	testutil.EventuallyTrue(t, waitTimeout, "the ACK-mode frame's connection waits for room", func() bool { return tr.Stats().ReadPauses == 1 })
	plain := dialRaw(t, n)
	if _, err := plain.Write(frame(src, 0, make([]byte, 600))); err != nil {
		t.Fatal(err)
	}
	testutil.EventuallyTrue(t, waitTimeout, "the frame without ACK's connection waits for room", func() bool { return tr.Stats().ReadPauses == 2 })
	// The three senders close before any delivery or ACK.
	for _, c := range []interface{ Close() error }{slot, room, plain} {
		_ = c.Close()
	}
	testutil.EventuallyTrue(t, waitTimeout, "the receiver sees the three peers closed", func() bool {
		tr.rcv.np.mu.Lock()
		defer tr.rcv.np.mu.Unlock()
		gone := 0
		for gc := range tr.rcv.np.conns {
			if gc.sock.peerGone() {
				gone++
			}
		}
		return gone == 3
	})
	release.open()
	testutil.EventuallyTrue(t, waitTimeout, "every frame delivered or dropped", func() bool {
		return delivered.Load()+int32(tr.Stats().FramesAbandoned) == 4
	})
	if st := tr.Stats(); st.MessagesDelivered != 2 || st.FramesAbandoned != 2 || st.AcksSent != 0 || st.FramesReceived != 4 {
		t.Fatalf("MessagesDelivered %d, FramesAbandoned %d, AcksSent %d, FramesReceived %d: want 2 (the first, the one without ACK), 2, 0 and 4",
			st.MessagesDelivered, st.FramesAbandoned, st.AcksSent, st.FramesReceived)
	}
}

// EngineGoroutine: of two synchronized-ack frames read together, the first waited for the
// Workers slot, saw its peer gone and was dropped; the second, finding the slot free at
// once, asked nothing and was delivered, its ACK written to the closed socket, though its
// sender had given up on it as on the first. Once a frame of the batch found its peer
// gone, every later one asking for an ACK is now dropped too.
func TestGoroutineAckFramesAfterAnAbandonedOneDropped(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("a peer's close is seen while a frame waits on Linux only")
	}
	cfg := goroutineConfig()
	cfg.Workers = 1
	tr, release, started, delivered := startBlocked(t, cfg)
	t.Cleanup(func() { _ = tr.Stop(context.Background(), channel.SvcAll) })
	t.Cleanup(release.open)
	m := memberOf(tr)
	src, _ := m.MarshalBinary()
	n := &node{t: tr, member: m}
	if _, err := dialRaw(t, n).Write(frame(src, 0, []byte("holds the slot"))); err != nil {
		t.Fatal(err)
	}
	<-started
	synced := dialRaw(t, n)
	opts := channel.OptUseAck | channel.OptSyncAck
	if _, err := synced.Write(append(frame(src, opts, []byte("first")), frame(src, opts, []byte("second"))...)); err != nil {
		t.Fatal(err)
	}
	testutil.EventuallyTrue(t, waitTimeout, "both synchronized-ack frames decoded", func() bool { return tr.Stats().FramesReceived == 3 })
	_ = synced.Close()
	testutil.EventuallyTrue(t, waitTimeout, "the receiver sees the peer closed", func() bool { return peersSeenClosed(tr) == 1 })
	release.open()
	testutil.EventuallyTrue(t, waitTimeout, "every frame delivered or dropped", func() bool {
		return delivered.Load()+int32(tr.Stats().FramesAbandoned) == 3
	})
	if st := tr.Stats(); delivered.Load() != 1 || st.FramesAbandoned != 2 || st.AcksSent != 0 || st.FailAcksSent != 0 {
		t.Fatalf("delivered %d, FramesAbandoned %d, AcksSent %d, FailAcksSent %d: want 1 (the first), 2, 0 and 0",
			delivered.Load(), st.FramesAbandoned, st.AcksSent, st.FailAcksSent)
	}
}
