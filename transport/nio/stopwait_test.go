package nio

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/testutil"
)

// EngineGoroutine: a connection waiting for MaxQueuedBytes room when a Stop begins whose
// context has not ended keeps waiting, and its frame is delivered once the delivery before
// it makes room, as EngineGnet's workers deliver what is queued during such a Stop: the
// wait ends without the frame only once Stop's context ends (receiver.dropping). Before,
// the wait ended as soon as Stop began (stopWaiting asked receiver.stopping) and the
// frame, read from its peer, was dropped uncounted by a graceful Stop.
func TestGoroutineQueueWaiterDeliveredOnGracefulStop(t *testing.T) {
	const size = 30 << 10 // under largeFrame: taken before it is decoded
	cfg := goroutineConfig()
	cfg.Workers = 2
	cfg.MaxQueuedBytes = 40 << 10 // one of the frames
	var sawStop atomic.Bool       // a waiting connection asked whether to stop once Stop began
	stopWaitHook = func(gc *gconn) {
		if gc.r.stopping.Load() {
			sawStop.Store(true)
		}
	}
	t.Cleanup(func() { stopWaitHook = nil })
	tr, release, started, delivered := startBlocked(t, cfg)
	t.Cleanup(func() { _ = tr.Stop(context.Background(), channel.SvcAll) })
	t.Cleanup(release.open)
	m := memberOf(tr)
	src, _ := m.MarshalBinary()
	n := &node{t: tr, member: m}
	if _, err := dialRaw(t, n).Write(frame(src, 0, make([]byte, size))); err != nil {
		t.Fatal(err)
	}
	<-started
	if _, err := dialRaw(t, n).Write(frame(src, 0, make([]byte, size))); err != nil {
		t.Fatal(err)
	}
	testutil.EventuallyTrue(t, waitTimeout, "the second connection waits for room", func() bool { return tr.Stats().ReadPauses == 1 })
	stopped := make(chan error, 1)
	go func() { stopped <- tr.Stop(context.Background(), channel.SvcAll) }()
	testutil.EventuallyTrue(t, waitTimeout, "the waiting connection saw the Stop", sawStop.Load)
	release.open()
	if err := <-stopped; err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if st := tr.Stats(); delivered.Load() != 2 || st.FramesReceived != 2 || st.QueuedBytes != 0 || st.PendingBytes != 0 {
		t.Fatalf("delivered %d, FramesReceived %d, QueuedBytes %d, PendingBytes %d: want 2, 2, 0 and 0 (the waiting frame delivered by a Stop with a live context)",
			delivered.Load(), st.FramesReceived, st.QueuedBytes, st.PendingBytes)
	}
}

// ... and once Stop's context ends (receiver.dropping) the waiting connection gives up at
// once, its frame dropped, while the delivery before it still holds the room: the Stop
// that gave up wakes it.
func TestGoroutineQueueWaiterGivesUpWhenStopsContextEnds(t *testing.T) {
	const size = 30 << 10
	cfg := goroutineConfig()
	cfg.Workers = 2
	cfg.MaxQueuedBytes = 40 << 10
	var sawStop atomic.Bool
	stopWaitHook = func(gc *gconn) {
		if gc.r.stopping.Load() {
			sawStop.Store(true)
		}
	}
	t.Cleanup(func() { stopWaitHook = nil })
	tr, release, started, delivered := startBlocked(t, cfg)
	t.Cleanup(func() { _ = tr.Stop(context.Background(), channel.SvcAll) })
	t.Cleanup(release.open)
	m := memberOf(tr)
	src, _ := m.MarshalBinary()
	n := &node{t: tr, member: m}
	if _, err := dialRaw(t, n).Write(frame(src, 0, make([]byte, size))); err != nil {
		t.Fatal(err)
	}
	<-started
	if _, err := dialRaw(t, n).Write(frame(src, 0, make([]byte, size))); err != nil {
		t.Fatal(err)
	}
	testutil.EventuallyTrue(t, waitTimeout, "the second connection waits for room", func() bool { return tr.Stats().ReadPauses == 1 })
	r := tr.rcv
	conns := func() int {
		r.np.mu.Lock()
		defer r.np.mu.Unlock()
		return len(r.np.conns)
	}
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan error, 1)
	go func() { stopped <- tr.Stop(ctx, channel.SvcAll) }()
	testutil.EventuallyTrue(t, waitTimeout, "the waiting connection saw the Stop", sawStop.Load)
	cancel()
	if err := <-stopped; err == nil {
		t.Fatal("Stop returned nil while a ReceiveFunc held the receiver")
	}
	testutil.EventuallyTrue(t, waitTimeout, "the waiting connection gave up, the first still delivering", func() bool { return conns() == 1 })
	release.open()
	if err := tr.Stop(context.Background(), channel.SvcAll); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	if st := tr.Stats(); delivered.Load() != 1 || st.FramesReceived != 1 || st.QueuedBytes != 0 {
		t.Fatalf("delivered %d, FramesReceived %d, QueuedBytes %d: want 1, 1 and 0", delivered.Load(), st.FramesReceived, st.QueuedBytes)
	}
}
