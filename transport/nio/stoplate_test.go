package nio

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/testutil"
)

// On EngineGnet a Stop whose context ends before gnet's engine has stopped (its event
// loops slow to exit on a loaded machine) returns its error while the event loops still
// decode what their connections send. Stop closed the worker pool at once: the workers,
// with nothing queued, exited, and a frame decoded afterwards was queued for no one, its
// bytes counted in Stats.QueuedBytes for ever and its buffer never released (seen as
// TestByteCountersReturnToZeroAfterLoadAndStop/gnet failing intermittently with megabytes
// queued once everything had closed). The hook holds the engine's shutdown open; the
// frame sent after Stop returned must be dropped, not delivered, and its bytes given back.
// With DeliverOnEventLoop the event loop, which delivers the frames itself, skipped such a
// frame without releasing its message: its large buffer went to the garbage collector, not
// back to the receiver's pool, as after every other drop (the event-loop subtest).
func TestGnetFrameDecodedAfterStopGaveUpReleased(t *testing.T) {
	for _, onLoop := range []bool{false, true} {
		name := "workers"
		if onLoop {
			name = "event-loop"
		}
		t.Run(name, func(t *testing.T) {
			cfg := gnetConfig()
			cfg.DeliverOnEventLoop = onLoop
			frameDecodedAfterStopGaveUpReleased(t, cfg)
		})
	}
}

func frameDecodedAfterStopGaveUpReleased(t *testing.T, cfg Config) {
	held := make(chan struct{})
	release := make(chan struct{})
	var entered, released atomic.Bool
	engineShutdownHook = func() {
		if entered.CompareAndSwap(false, true) {
			close(held)
			<-release
		}
	}
	t.Cleanup(func() { engineShutdownHook = nil }) // after Stop (cleanups run last first)
	free := func() {
		if released.CompareAndSwap(false, true) {
			close(release)
		}
	}
	t.Cleanup(free)
	var delivered atomic.Int64
	b := startNode(t, cfg, func(*channel.Message) error {
		delivered.Add(1)
		return nil
	})
	t.Cleanup(free) // before the node's Stop, which a held engine would keep waiting
	r := b.t.rcv
	c := dialRaw(t, b)
	if _, err := c.Write(frame(b.wire, 0, []byte("before Stop"))); err != nil {
		t.Fatal(err)
	}
	testutil.EventuallyTrue(t, waitTimeout, "the first frame delivered", func() bool {
		return delivered.Load() == 1 && b.t.Stats().QueuedBytes == 0
	})

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := b.t.Stop(ctx, channel.SvcReceiver); !errors.Is(err, context.Canceled) {
		t.Fatalf("Stop = %v, want the context's error (the engine is held)", err)
	}
	select {
	case <-held:
	case <-time.After(waitTimeout):
		t.Fatal("gnet's engine never began to stop")
	}
	// A closed pool's workers exit once nothing is queued: let them (a pool still open
	// keeps them).
	testutil.EventuallyTrue(t, waitTimeout, "a closed pool's workers to exit", func() bool {
		r.pool.mu.Lock()
		closed := r.pool.closed
		r.pool.mu.Unlock()
		return !closed || isClosed(r.pool.done)
	})
	// A large frame: its message's Release gives its buffer to the receiver's pool, which
	// shows that the frame was processed (a small frame's queued bytes may read 0 before
	// they were counted).
	if _, err := c.Write(frame(b.wire, 0, make([]byte, 2*largeFrame))); err != nil {
		t.Fatal(err)
	}
	testutil.EventuallyTrue(t, waitTimeout, "the frame decoded after Stop returned dropped and its bytes given back", func() bool {
		r.bufs.mu.Lock()
		back := r.bufs.held > 0
		r.bufs.mu.Unlock()
		return back && b.t.Stats().QueuedBytes == 0
	})
	if st := b.t.Stats(); delivered.Load() != 1 || st.FramesReceived != 2 || st.MessagesDelivered != 1 {
		t.Fatalf("%d messages delivered (Stats: %d decoded, %d delivered); want 2 decoded, only the one before Stop delivered",
			delivered.Load(), st.FramesReceived, st.MessagesDelivered)
	}

	free()
	testutil.EventuallyTrue(t, waitTimeout, "the engine and the workers to stop", func() bool {
		return isClosed(r.done) && isClosed(r.pool.done) && b.t.Stats().ConnsOpen == 0
	})
}
