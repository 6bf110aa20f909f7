package nio

import (
	"context"
	"encoding/binary"
	"errors"
	"slices"
	"sync"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/testutil"
)

// EngineGoroutine: a large frame that completes behind frames decoded before it, and no
// longer fits MaxQueuedBytes because another connection took the room after it started
// (it fitted then), waits behind its batch (gconn.late): the batch is delivered, then the
// frame waits for room, not reading, still counted in PendingBytes, and is delivered in
// order once a delivery makes room, the frames after it following; Stop ends its wait
// and drops it, its buffer back in the receiver's pool, counted in Stats.FramesReceived
// (decoded) as EngineGnet counts a frame decoded and dropped by Stop (it was not: a frame
// counted only once taken into the budget). Linux: the test needs the read
// buffer grown and the socket's unread bytes (SIOCINQ), so that the batch and the whole
// large frame are read at once.
func TestGoroutineLargeFrameWaitsBehindItsBatch(t *testing.T) {
	t.Run("delivered in order", func(t *testing.T) { lateLargeFrame(t, lateDelivered) })
	t.Run("dropped at Stop", func(t *testing.T) { lateLargeFrame(t, lateStopped) })
}

// A non-member's frames dropped with their connection are not dropped by Stop, even once
// Stop's context ended: the large frame waiting behind a batch whose frame the channel
// refuses as a non-member's, refused while a Stop that gave up waits, was counted in
// Stats.FramesDroppedByStop (dropped as the connection's goroutine ends), where the
// frames of the batch after the refused one are not.
func TestGoroutineLargeFrameBehindARefusedOneNotDroppedByStop(t *testing.T) {
	lateLargeFrame(t, lateRefused)
}

// What lateLargeFrame does once the large frame waits behind its batch.
const (
	lateDelivered = iota // room made: it is delivered in order
	lateStopped          // a Stop whose context ended drops it
	lateRefused          // the frame before it is refused as a non-member's during such a Stop
)

// lateRx is a ReceiveFunc recording the sequence numbers (seqPayload) of the messages it
// gets, in order; the delivery of a number with a gate waits for it.
type lateRx struct {
	gates   map[uint32]*gate         // fixed before Start
	refuse  uint32                   // a sequence number refused as a non-member's (0: none)
	started map[uint32]chan struct{} // closed as that number's delivery begins
	mu      sync.Mutex
	got     []uint32
}

func (x *lateRx) rx(m *channel.Message) error {
	seq := binary.BigEndian.Uint32(m.Data)
	if ch, ok := x.started[seq]; ok {
		close(ch)
	}
	if g, ok := x.gates[seq]; ok {
		g.wait()
	}
	x.mu.Lock()
	x.got = append(x.got, seq)
	x.mu.Unlock()
	if seq != 0 && seq == x.refuse {
		return channel.ErrNotMember
	}
	return nil
}

func (x *lateRx) delivered() []uint32 {
	x.mu.Lock()
	defer x.mu.Unlock()
	return slices.Clone(x.got)
}

func lateLargeFrame(t *testing.T, mode int) {
	const (
		budget = 64 << 10
		other  = 100 // the sequence number of the other connection's frame
	)
	cfg := goroutineConfig()
	cfg.Workers = 2
	cfg.MaxQueuedBytes = budget
	x := &lateRx{
		gates:   map[uint32]*gate{0: newGate(), 4: newGate(), other: newGate()},
		started: map[uint32]chan struct{}{0: make(chan struct{}), 4: make(chan struct{}), 5: make(chan struct{}), other: make(chan struct{})},
	}
	if mode == lateRefused {
		x.gates[5], x.refuse = newGate(), 5
	}
	hit, resume := make(chan struct{}), make(chan struct{})
	var once sync.Once
	largeBehindHook = func(*gconn) {
		once.Do(func() {
			close(hit)
			<-resume
		})
	}
	t.Cleanup(func() { largeBehindHook = nil })
	b := startNode(t, cfg, x.rx)
	for _, g := range x.gates {
		t.Cleanup(g.open) // before the node's Stop
	}
	wait := func(ch <-chan struct{}, what string) {
		t.Helper()
		testutil.EventuallyTrue(t, waitTimeout, what, func() bool { return isClosed(ch) })
	}
	numbered := func(i, pad int) []byte { return frame(b.wire, 0, append(seqPayload(i), make([]byte, pad)...)) }

	c := dialRaw(t, b)
	if _, err := c.Write(numbered(0, 0)); err != nil {
		t.Fatal(err)
	}
	wait(x.started[0], "the first frame in delivery")
	var gc *gconn
	b.t.rcv.np.mu.Lock()
	for g := range b.t.rcv.np.conns {
		gc = g
	}
	b.t.rcv.np.mu.Unlock()
	unread := func() int {
		n := -1
		_ = gc.sock.rc.Control(func(fd uintptr) { n, _ = unix.IoctlGetInt(int(fd), unix.SIOCINQ) })
		return n
	}
	// Frames 1 to 4, 80 KiB in the socket, grow the connection's read buffer to 64 KiB;
	// frame 4's delivery holds the connection while the next ones arrive.
	var burst []byte
	for i := 1; i <= 4; i++ {
		burst = append(burst, numbered(i, 20000)...)
	}
	if _, err := c.Write(burst); err != nil {
		t.Fatal(err)
	}
	testutil.EventuallyTrue(t, waitTimeout, "the burst in the socket", func() bool { return unread() == len(burst) })
	x.gates[0].open()
	wait(x.started[4], "the burst delivered up to frame 4")
	// A small frame, the large frame 6 and a small one, read together once frame 4 is
	// delivered.
	large := numbered(6, 40000)
	tail := slices.Concat(numbered(5, 0), large, numbered(7, 0))
	if _, err := c.Write(tail); err != nil {
		t.Fatal(err)
	}
	testutil.EventuallyTrue(t, waitTimeout, "the tail in the socket", func() bool { return unread() == len(tail) })
	pauses := b.t.Stats().ReadPauses
	x.gates[4].open()
	wait(hit, "the large frame decoded behind frame 5")
	// Another connection's frame takes the room the large frame started in; its
	// delivery holds it.
	fb := numbered(other, 30000)
	if _, err := dialRaw(t, b).Write(fb); err != nil {
		t.Fatal(err)
	}
	wait(x.started[other], "the other connection's frame in delivery")
	close(resume)
	if mode == lateRefused {
		refusedBehindStop(t, b, x, other)
		return
	}
	testutil.EventuallyTrue(t, waitTimeout, "frame 5 delivered and the large frame waiting for room", func() bool {
		return b.t.Stats().ReadPauses == pauses+1 && len(x.delivered()) == 6
	})
	if got, want := x.delivered(), []uint32{0, 1, 2, 3, 4, 5}; !slices.Equal(got, want) {
		t.Fatalf("delivered %v while the large frame waits, want %v", got, want)
	}
	if st := b.t.Stats(); st.QueuedBytes != int64(len(fb)) || st.PendingBytes < int64(len(large)) {
		t.Fatalf("QueuedBytes %d, PendingBytes %d while the large frame waits: want the other frame's %d, and the large frame's %d held",
			st.QueuedBytes, st.PendingBytes, len(fb), len(large))
	}

	if mode == lateStopped {
		// (The other connection's bytes count in PendingBytes until its delivery ends.)
		held := b.t.Stats().PendingBytes
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := b.t.Stop(ctx, channel.SvcReceiver); !errors.Is(err, context.Canceled) {
			t.Fatalf("Stop = %v, want the context's error (a delivery is held)", err)
		}
		r := b.t.ending
		testutil.EventuallyTrue(t, waitTimeout, "the waiting large frame dropped, its buffer back in the pool", func() bool {
			r.bufs.mu.Lock()
			back := r.bufs.held > 0
			r.bufs.mu.Unlock()
			return back && b.t.Stats().PendingBytes <= held-int64(len(large))
		})
		x.gates[other].open()
		testutil.EventuallyTrue(t, waitTimeout, "the receiver ended", func() bool { return isClosed(r.ended) })
		if st := b.t.Stats(); st.QueuedBytes != 0 || st.PendingBytes != 0 {
			t.Fatalf("QueuedBytes %d, PendingBytes %d once the receiver ended, want 0", st.QueuedBytes, st.PendingBytes)
		}
		if got, want := x.delivered(), []uint32{0, 1, 2, 3, 4, 5, other}; !slices.Equal(got, want) {
			t.Fatalf("delivered %v, want %v: the large frame and the one after it dropped", got, want)
		}
		// The large frame was decoded (received) and dropped; frame 7, never decoded, was
		// not received: as EngineGnet counts a frame it decoded and Stop dropped.
		if st := b.t.Stats(); st.FramesReceived != 8 || st.MessagesDelivered != 7 || st.FramesAbandoned != 0 || st.FramesDroppedByStop != 1 {
			t.Fatalf("FramesReceived %d, MessagesDelivered %d, FramesAbandoned %d, FramesDroppedByStop %d: want 8 (frames 0 to 6 and the other), 7, 0 and 1 (the large frame)",
				st.FramesReceived, st.MessagesDelivered, st.FramesAbandoned, st.FramesDroppedByStop)
		}
		return
	}
	x.gates[other].open()
	testutil.EventuallyTrue(t, waitTimeout, "every frame delivered", func() bool { return len(x.delivered()) == 9 })
	if got, want := x.delivered(), []uint32{0, 1, 2, 3, 4, 5, other, 6, 7}; !slices.Equal(got, want) {
		t.Fatalf("delivered %v, want %v", got, want)
	}
	testutil.EventuallyTrue(t, waitTimeout, "the budgets drained", func() bool {
		st := b.t.Stats()
		return st.QueuedBytes == 0 && st.PendingBytes == 0
	})
}

// refusedBehindStop is lateLargeFrame's lateRefused ending (other: the other connection's
// sequence number): frame 5, the batch before the
// large frame, is in delivery, the large frame waiting behind it (gconn.late); a Stop
// whose context ends gives up, and the channel then refuses frame 5 as a non-member's,
// which closes the connection and drops the large frame with it.
func refusedBehindStop(t *testing.T, b *node, x *lateRx, other uint32) {
	t.Helper()
	testutil.EventuallyTrue(t, waitTimeout, "frame 5 in delivery, the large frame behind it", func() bool {
		return isClosed(x.started[5])
	})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := b.t.Stop(ctx, channel.SvcReceiver); !errors.Is(err, context.Canceled) {
		t.Fatalf("Stop = %v, want the context's error (deliveries are held)", err)
	}
	r := b.t.ending
	x.gates[5].open()
	testutil.EventuallyTrue(t, waitTimeout, "the connection closed for the refusal, the large frame's buffer back in the pool", func() bool {
		r.bufs.mu.Lock()
		back := r.bufs.held > 0
		r.bufs.mu.Unlock()
		return back && b.t.Stats().ConnsNonMember == 1
	})
	x.gates[other].open()
	testutil.EventuallyTrue(t, waitTimeout, "the receiver ended", func() bool { return isClosed(r.ended) })
	if got, want := x.delivered(), []uint32{0, 1, 2, 3, 4, 5, other}; !slices.Equal(got, want) {
		t.Fatalf("delivered %v, want %v", got, want)
	}
	if st := b.t.Stats(); st.FramesReceived != 8 || st.MessagesDelivered != 7 || st.FramesDroppedByStop != 0 ||
		st.FramesAbandoned != 0 || st.QueuedBytes != 0 || st.PendingBytes != 0 {
		t.Fatalf("FramesReceived %d, MessagesDelivered %d, FramesDroppedByStop %d, FramesAbandoned %d, QueuedBytes %d, PendingBytes %d: want 8, 7, 0 (the large frame dropped with the non-member's connection), 0, 0 and 0",
			st.FramesReceived, st.MessagesDelivered, st.FramesDroppedByStop, st.FramesAbandoned, st.QueuedBytes, st.PendingBytes)
	}
}
