package nio

import (
	"context"
	"errors"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/wire"
)

// What Stop drops once its context ends (EngineGoroutine): frames decoded and not yet
// delivered are dropped, those already acknowledged included. A USE_ACK frame without
// SYNC is acknowledged right before its delivery, a run of them with one write, so here a
// connection's 3 such frames are all acknowledged while the first waits for the only
// Workers slot; Stop's context ends; none of the 3 is delivered, though their sender took
// them as received. (MaxQueuedBytes drops nothing while the receiver runs; this is the
// bound docs/security.md and operations.md state for Stop.)
func TestStopDropsAcknowledgedFramesNotYetDelivered(t *testing.T) {
	cfg := goroutineConfig()
	cfg.Workers = 1
	tr, release, started, delivered := startBlocked(t, cfg)
	t.Cleanup(release.open)
	m := memberOf(tr)
	src, _ := m.MarshalBinary()
	n := &node{t: tr, member: m}
	if _, err := dialRaw(t, n).Write(frame(src, 0, []byte("running"))); err != nil {
		t.Fatal(err)
	}
	<-started // the only slot is taken
	c := dialRaw(t, n)
	var run []byte
	for range 3 {
		run = append(run, frame(src, channel.OptUseAck, []byte("acked"))...)
	}
	if _, err := c.Write(run); err != nil {
		t.Fatal(err)
	}
	for i, k := range readAcks(t, c, 3) {
		if k != wire.Ack {
			t.Fatalf("ack %d: %v, want an ACK", i, k)
		}
	}
	testutil.EventuallyTrue(t, waitTimeout, "the 3 frames decoded", func() bool { return tr.Stats().FramesReceived == 4 })

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := tr.Stop(ctx, channel.SvcAll); !errors.Is(err, context.Canceled) {
		t.Fatalf("Stop = %v, want the context's error", err)
	}
	release.open()
	testutil.EventuallyTrue(t, waitTimeout, "every connection's goroutine to end", func() bool { return tr.Stats().ConnsOpen == 0 })
	if got := delivered.Load(); got != 1 {
		t.Fatalf("%d messages delivered, want only the one running when Stop returned (the 3 acknowledged ones dropped)", got)
	}
	if st := tr.Stats(); st.AcksSent != 3 || st.MessagesDelivered != 1 {
		t.Fatalf("AcksSent %d, MessagesDelivered %d: want 3 and 1", st.AcksSent, st.MessagesDelivered)
	}
}
