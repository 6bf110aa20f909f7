package nio

import (
	"context"
	"errors"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/testutil"
)

// On EngineGoroutine a connection whose frame waits for one of the Workers slots (every
// slot held by a ReceiveFunc that does not return) is not delivered once Stop returned
// with its context's error: the waiting goroutine got its slot only after the slow
// ReceiveFunc returned, long after Stop, and delivered the frame then. Stop's promise is
// that only the ReceiveFuncs already running finish in the background.
func TestGoroutineEngineStopDropsDeliveriesWaitingForASlot(t *testing.T) {
	cfg := goroutineConfig()
	cfg.Workers = 1
	tr, release, started, delivered := startBlocked(t, cfg)
	t.Cleanup(release.open)
	m := memberOf(tr)
	src, _ := m.MarshalBinary()
	n := &node{t: tr, member: m}
	first := dialRaw(t, n)
	if _, err := first.Write(frame(src, 0, []byte("running"))); err != nil {
		t.Fatal(err)
	}
	<-started // the only slot is taken
	second := dialRaw(t, n)
	if _, err := second.Write(frame(src, channel.OptUseAck|channel.OptSyncAck, []byte("waiting"))); err != nil {
		t.Fatal(err)
	}
	testutil.EventuallyTrue(t, waitTimeout, "the second frame decoded", func() bool { return tr.Stats().FramesReceived == 2 })

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := tr.Stop(ctx, channel.SvcAll); !errors.Is(err, context.Canceled) {
		t.Fatalf("Stop = %v, want the context's error", err)
	}
	release.open()
	testutil.EventuallyTrue(t, waitTimeout, "every connection's goroutine to end", func() bool { return tr.Stats().ConnsOpen == 0 })
	if got := delivered.Load(); got != 1 {
		t.Fatalf("%d messages delivered, want only the one running when Stop returned", got)
	}
	if st := tr.Stats(); st.MessagesDelivered != 1 || st.DeliveryErrors != 0 {
		t.Fatalf("MessagesDelivered %d, DeliveryErrors %d: want 1 and 0 (a dropped frame is neither)", st.MessagesDelivered, st.DeliveryErrors)
	}
}
