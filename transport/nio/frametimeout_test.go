package nio

import (
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/wire"
)

// FrameTimeout bounds one frame's arrival, not a connection's life: a frame that arrived
// in two parts and was delivered leaves no deadline behind, so the idle pooled connection
// stays open past FrameTimeout and carries the next frame. With DeliverOnEventLoop the
// completed frame did not reset the deadline (only frames queued for workers counted as
// progress): the connection was closed FrameTimeout after the first partial frame, as a
// slowloris (Stats.ConnsTimedOut), its next frame cut off.
func TestFrameTimeoutEndsWithTheFrame(t *testing.T) {
	forEachDelivery(t, func(t *testing.T, cfg Config) {
		cfg.FrameTimeout = 200 * time.Millisecond
		cfg.FirstFrameTimeout = 4 * cfg.FrameTimeout
		rec := newRecorder(4)
		b := startNode(t, cfg, rec.rx)
		src, _ := b.member.MarshalBinary()

		c := dialRaw(t, b)
		f := frame(src, channel.OptUseAck|channel.OptSyncAck, []byte("split in two"))
		if _, err := c.Write(f[:20]); err != nil {
			t.Fatal(err)
		}
		testutil.EventuallyTrue(t, waitTimeout, "the first part buffered", func() bool { return b.t.Stats().PendingBytes > 0 })
		if _, err := c.Write(f[20:]); err != nil {
			t.Fatal(err)
		}
		if k := readAcks(t, c, 1); k[0] != wire.Ack {
			t.Fatalf("answer %v", k)
		}
		rec.next(t)

		// An idle connection closed by FirstFrameTimeout (4 x FrameTimeout) shows that the
		// deadlines were checked long past FrameTimeout meanwhile.
		idle := dialRaw(t, b)
		expectClosed(t, idle)
		testutil.EventuallyTrue(t, waitTimeout, "the idle connection counted", func() bool { return b.t.Stats().ConnsTimedOut >= 1 })
		if n := b.t.Stats().ConnsTimedOut; n != 1 {
			t.Fatalf("%d connections timed out, want only the idle one: the pooled connection was closed after its frame completed", n)
		}
		if _, err := c.Write(frame(src, channel.OptUseAck|channel.OptSyncAck, []byte("next"))); err != nil {
			t.Fatal(err)
		}
		if k := readAcks(t, c, 1); k[0] != wire.Ack {
			t.Fatalf("answer %v", k)
		}
		if m := rec.next(t); string(m.Data) != "next" {
			t.Fatalf("got %q", m.Data)
		}
	})
}
