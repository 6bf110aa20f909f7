package nio

import (
	"context"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/testutil"
)

// EngineGoroutine reads nothing while a connection waits, so it does not notice a peer
// that closed meanwhile: once its turn comes, a complete frame received before the close
// is delivered, and an ACK-mode frame's ACK goes to a closed socket. A sender that gave
// up on it (its Timeout) and retried on another connection (MaxRetryAttempts) has it
// delivered twice. That is no new kind of duplicate: a synchronized-ack frame waiting
// for one of the Workers slots, as before MaxQueuedBytes, is delivered after its peer
// closed the same way. Here both are delivered once the listener goes on
// (docs/operations.md, beside MaxRetryAttempts).
func TestGoroutineFramesOfAClosedPeerStillDelivered(t *testing.T) {
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
	// An ACK-mode frame does not fit: its connection waits for room, not reading.
	room := dialRaw(t, n)
	if _, err := room.Write(frame(src, channel.OptUseAck, make([]byte, 600))); err != nil {
		t.Fatal(err)
	}
	testutil.EventuallyTrue(t, waitTimeout, "the ACK-mode frame's connection waits for room", func() bool { return tr.Stats().ReadPauses == 1 })
	// Both senders give up: their peers close before any delivery or ACK.
	_ = slot.Close()
	_ = room.Close()
	release.open()
	testutil.EventuallyTrue(t, waitTimeout, "every frame delivered", func() bool { return delivered.Load() == 3 })
	if st := tr.Stats(); st.MessagesDelivered != 3 || st.FramesReceived != 3 {
		t.Fatalf("MessagesDelivered %d, FramesReceived %d: want 3 and 3 (both closed peers' frames delivered)",
			st.MessagesDelivered, st.FramesReceived)
	}
}
