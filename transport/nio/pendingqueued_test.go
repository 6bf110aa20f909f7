package nio

import (
	"fmt"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/testutil"
)

// A small frame (under 32 KiB, read into the connection's buffer) that arrived in pieces
// is counted in Stats.PendingBytes while partial; once complete and queued for delivery it
// counts in QueuedBytes and no longer in PendingBytes. EngineGoroutine updated its share of
// PendingBytes only between reads, after the delivery: the first piece stayed counted in
// both while the ReceiveFunc held the frame (16 KiB of a blocked 30 KiB frame counted
// twice). Both engines now agree.
func TestSmallFrameInPiecesLeavesPendingBytesOnceQueued(t *testing.T) {
	forEachEngine(t, func(t *testing.T, cfg Config) {
		release, started := newGate(), make(chan struct{})
		b := startNode(t, cfg, func(*channel.Message) error {
			close(started)
			release.wait()
			return nil
		})
		t.Cleanup(release.open) // before the node's Stop
		f := frame(b.wire, 0, make([]byte, 30<<10))
		if len(f) >= largeFrame {
			t.Fatalf("a frame of %d bytes is not small", len(f))
		}
		const piece = 16 << 10
		c := dialRaw(t, b)
		if _, err := c.Write(f[:piece]); err != nil {
			t.Fatal(err)
		}
		testutil.EventuallyTrue(t, waitTimeout, "the first piece counted in PendingBytes", func() bool {
			return b.t.Stats().PendingBytes == piece
		})
		if _, err := c.Write(f[piece:]); err != nil {
			t.Fatal(err)
		}
		testutil.EventuallyTrue(t, waitTimeout, "the frame in delivery", func() bool { return isClosed(started) })
		testutil.Eventually(t, waitTimeout, func() error {
			if st := b.t.Stats(); st.QueuedBytes != int64(len(f)) || st.PendingBytes != 0 {
				return fmt.Errorf("QueuedBytes %d, PendingBytes %d while the frame's delivery is held: want %d (the frame) and 0",
					st.QueuedBytes, st.PendingBytes, len(f))
			}
			return nil
		})
		release.open()
		testutil.EventuallyTrue(t, waitTimeout, "the budgets drained", func() bool {
			st := b.t.Stats()
			return st.QueuedBytes == 0 && st.PendingBytes == 0 && st.MessagesDelivered == 1
		})
	})
}
