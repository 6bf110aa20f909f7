package nio

import (
	"context"
	"encoding/binary"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/testutil"
)

// With DeliverOnEventLoop, a frame the event loop decodes once a Stop's context ended is
// dropped by the loop itself (rconn.deliverNow), never reaching a worker or the
// ReceiveFunc, and counted in Stats.FramesDroppedByStop. The first frame's delivery holds
// the loop while Stop gives up; the second, written meanwhile, is decoded once it
// returns, the engine's shutdown held (engineShutdownHook) so that the loop, not the
// connection's close, decodes it.
func TestStopDropOnTheEventLoopCounted(t *testing.T) {
	cfg := gnetConfig()
	cfg.DeliverOnEventLoop = true
	cfg.EventLoops = 1
	shut, free := newGate(), newGate()
	var entered atomic.Bool
	engineShutdownHook = func() {
		if entered.CompareAndSwap(false, true) {
			shut.open()
			free.wait()
		}
	}
	t.Cleanup(func() { engineShutdownHook = nil }) // after Stop (cleanups run last first)
	t.Cleanup(free.open)
	release, started := newGate(), make(chan struct{})
	var mu sync.Mutex
	var got []uint32
	b := startNode(t, cfg, func(m *channel.Message) error {
		seq := binary.BigEndian.Uint32(m.Data)
		if seq == 0 {
			close(started)
			release.wait()
		}
		mu.Lock()
		got = append(got, seq)
		mu.Unlock()
		return nil
	})
	t.Cleanup(free.open) // before the node's Stop, which a held engine would keep waiting
	t.Cleanup(release.open)
	r := b.t.rcv
	c := dialRaw(t, b)
	if _, err := c.Write(frame(b.wire, 0, seqPayload(0))); err != nil {
		t.Fatal(err)
	}
	select {
	case <-started:
	case <-time.After(waitTimeout):
		t.Fatal("the first frame never reached the ReceiveFunc")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := b.t.Stop(ctx, channel.SvcReceiver); !errors.Is(err, context.Canceled) {
		t.Fatalf("Stop = %v, want the context's error (a delivery holds the loop)", err)
	}
	select {
	case <-shut.ch:
	case <-time.After(waitTimeout):
		t.Fatal("gnet's engine never began to stop")
	}
	if _, err := c.Write(frame(b.wire, 0, seqPayload(1))); err != nil {
		t.Fatal(err)
	}
	release.open()
	testutil.EventuallyTrue(t, waitTimeout, "the second frame decoded and dropped", func() bool {
		st := b.t.Stats()
		return st.FramesReceived == 2 && st.FramesDroppedByStop == 1
	})
	if st := b.t.Stats(); st.MessagesDelivered != 1 || st.QueuedBytes != 0 {
		t.Fatalf("MessagesDelivered %d, QueuedBytes %d: want 1 (the frame in delivery when Stop gave up) and 0 (nothing queued for a worker)",
			st.MessagesDelivered, st.QueuedBytes)
	}
	free.open()
	testutil.EventuallyTrue(t, waitTimeout, "the receiver ended", func() bool { return isClosed(r.ended) })
	mu.Lock()
	defer mu.Unlock()
	if st := b.t.Stats(); len(got) != 1 || got[0] != 0 || st.FramesDroppedByStop != 1 || st.FramesAbandoned != 0 {
		t.Fatalf("delivered %v, FramesDroppedByStop %d, FramesAbandoned %d: want [0], 1 and 0",
			got, st.FramesDroppedByStop, st.FramesAbandoned)
	}
}

// EngineGoroutine: a large frame that completed but no longer fits MaxQueuedBytes (another
// connection's frame took the room after it started) waits for room, counted in
// FramesReceived; a Stop whose context ends drops it (gconn.takeLarge), counted in
// Stats.FramesDroppedByStop, while the delivery that holds the room finishes.
func TestGoroutineLargeFrameWaitingForRoomDropCounted(t *testing.T) {
	cfg := goroutineConfig()
	cfg.Workers = 2
	cfg.MaxQueuedBytes = 64 << 10
	release, started := newGate(), make(chan struct{})
	var delivered atomic.Int32
	b := startNode(t, cfg, func(m *channel.Message) error {
		if binary.BigEndian.Uint32(m.Data) == 0 {
			close(started)
			release.wait()
		}
		delivered.Add(1)
		return nil
	})
	t.Cleanup(release.open) // before the node's Stop
	// The large frame starts while the budget is free: its first bytes, then nothing.
	large := frame(b.wire, 0, append(seqPayload(1), make([]byte, 40000)...))
	cl := dialRaw(t, b)
	if _, err := cl.Write(large[:1000]); err != nil {
		t.Fatal(err)
	}
	testutil.EventuallyTrue(t, waitTimeout, "the large frame started", func() bool { return b.t.Stats().PendingBytes > 0 })
	// Another connection's frame takes 30000 bytes of the budget; its delivery holds them.
	if _, err := dialRaw(t, b).Write(frame(b.wire, 0, append(seqPayload(0), make([]byte, 30000)...))); err != nil {
		t.Fatal(err)
	}
	select {
	case <-started:
	case <-time.After(waitTimeout):
		t.Fatal("the other frame never reached the ReceiveFunc")
	}
	pauses := b.t.Stats().ReadPauses
	if _, err := cl.Write(large[1000:]); err != nil {
		t.Fatal(err)
	}
	testutil.EventuallyTrue(t, waitTimeout, "the large frame complete and waiting for room", func() bool {
		st := b.t.Stats()
		return st.FramesReceived == 2 && st.ReadPauses == pauses+1
	})
	r := b.t.rcv
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := b.t.Stop(ctx, channel.SvcReceiver); !errors.Is(err, context.Canceled) {
		t.Fatalf("Stop = %v, want the context's error (a delivery is held)", err)
	}
	testutil.EventuallyTrue(t, waitTimeout, "the waiting large frame dropped", func() bool {
		return b.t.Stats().FramesDroppedByStop == 1
	})
	release.open()
	testutil.EventuallyTrue(t, waitTimeout, "the receiver ended", func() bool { return isClosed(r.ended) })
	if st := b.t.Stats(); delivered.Load() != 1 || st.MessagesDelivered != 1 || st.FramesReceived != 2 ||
		st.FramesDroppedByStop != 1 || st.FramesAbandoned != 0 || st.QueuedBytes != 0 || st.PendingBytes != 0 {
		t.Fatalf("delivered %d, MessagesDelivered %d, FramesReceived %d, FramesDroppedByStop %d, FramesAbandoned %d, QueuedBytes %d, PendingBytes %d: want 1, 1, 2, 1, 0, 0 and 0",
			delivered.Load(), st.MessagesDelivered, st.FramesReceived, st.FramesDroppedByStop, st.FramesAbandoned, st.QueuedBytes, st.PendingBytes)
	}
}
