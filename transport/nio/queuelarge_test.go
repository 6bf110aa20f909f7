package nio

import (
	"net"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/testutil"
)

// EngineGoroutine: a frame of 32 KiB or more started once its size fitted MaxQueuedBytes
// but was counted only once complete, so frames that started together and completed
// together all went in: here four 40 KiB frames, started while 1 KiB was queued, took
// 161 KiB of a 100 KiB budget. A large frame that no longer fits once complete now waits
// for room like a small one (Stats.ReadPauses), still counted in PendingBytes, and the
// budget holds: two go in, two wait, and all five are delivered once the listener goes on.
// The two that wait were decoded: they count in Stats.FramesReceived, as EngineGnet counts
// a frame decoded and queued (the test asserted before that they did not, FramesReceived
// plus ReadPauses making the five frames; a frame dropped by Stop while it waited was so
// never counted received).
func TestGoroutineLargeFramesWithinTheQueueBudget(t *testing.T) {
	const (
		conns  = 4
		size   = 40 << 10 // large frames: assembled in buffers of their own
		budget = 100 << 10
	)
	cfg := goroutineConfig()
	cfg.Workers = 1
	cfg.MaxQueuedBytes = budget
	rec := newRecorder(conns + 1)
	release := newGate()
	b := startNode(t, cfg, func(m *channel.Message) error {
		release.wait()
		return rec.rx(m)
	})
	t.Cleanup(release.open)
	first := frame(b.wire, 0, make([]byte, 1<<10))
	if _, err := dialRaw(t, b).Write(first); err != nil {
		t.Fatal(err)
	}
	testutil.EventuallyTrue(t, waitTimeout, "the first frame in delivery", func() bool { return b.t.Stats().QueuedBytes == int64(len(first)) })
	f := frame(b.wire, 0, make([]byte, size))
	cs := make([]net.Conn, conns)
	for i := range cs {
		cs[i] = dialRaw(t, b)
		if _, err := cs[i].Write(f[:len(f)/2]); err != nil {
			t.Fatal(err)
		}
	}
	// Each started its frame (its size fitted), reserving it in PendingBytes.
	testutil.EventuallyTrue(t, waitTimeout, "every large frame started", func() bool { return b.t.Stats().PendingBytes == conns*int64(len(f)) })
	for _, c := range cs {
		if _, err := c.Write(f[len(f)/2:]); err != nil {
			t.Fatal(err)
		}
	}
	var most int64
	// Every frame is counted in FramesReceived once decoded, a large one waiting for room
	// included (as EngineGnet counts a frame decoded and queued): each large frame is
	// then queued or waiting.
	testutil.EventuallyTrue(t, waitTimeout, "every large frame decoded, queued or waiting for room", func() bool {
		st := b.t.Stats()
		most = max(most, st.QueuedBytes)
		queued := (st.QueuedBytes - int64(len(first))) / int64(len(f))
		return st.FramesReceived == conns+1 && uint64(queued)+st.ReadPauses == conns
	})
	st := b.t.Stats()
	t.Logf("%d frames of %d bytes completed together: %d bytes queued (budget %d, most seen %d), %d held in PendingBytes, %d decoded, %d waits",
		conns, len(f), st.QueuedBytes, budget, most, st.PendingBytes, st.FramesReceived, st.ReadPauses)
	if most > budget {
		t.Fatalf("%d bytes of decoded frames waited for a worker, over MaxQueuedBytes %d", most, budget)
	}
	if st.ReadPauses != 2 || st.PendingBytes != 2*int64(len(f)) {
		t.Fatalf("%d connections wait, %d bytes held in PendingBytes: want the two frames that do not fit, %d bytes", st.ReadPauses, st.PendingBytes, 2*len(f))
	}
	release.open()
	for range conns + 1 {
		rec.next(t)
	}
	testutil.EventuallyTrue(t, waitTimeout, "the budgets drained", func() bool {
		st := b.t.Stats()
		return st.QueuedBytes == 0 && st.PendingBytes == 0
	})
	if st := b.t.Stats(); st.MessagesDelivered != conns+1 || st.FramesRefused != 0 {
		t.Fatalf("delivered %d of %d messages (%d refused)", st.MessagesDelivered, conns+1, st.FramesRefused)
	}
}

// A large frame completed from a read that also held small frames before it is taken
// into MaxQueuedBytes once: once all is delivered, nothing stays queued. (Taken twice, it
// left its size counted for ever, and the budget shrank by it each time.)
func TestGoroutineLargeFrameAfterSmallOnesTakenOnce(t *testing.T) {
	cfg := goroutineConfig()
	rec := newRecorder(64)
	b := startNode(t, cfg, rec.rx)
	c := dialRaw(t, b)
	small := frame(b.wire, 0, make([]byte, 100))
	large := frame(b.wire, 0, make([]byte, 40<<10))
	var burst []byte // grows the connection's read buffer to 64 KiB
	for range 30 {
		burst = append(burst, frame(b.wire, 0, make([]byte, 3<<10))...)
	}
	if _, err := c.Write(burst); err != nil {
		t.Fatal(err)
	}
	for range 30 {
		rec.next(t)
	}
	const rounds = 10
	for range rounds {
		if _, err := c.Write(append(append([]byte(nil), small...), large...)); err != nil {
			t.Fatal(err)
		}
		rec.next(t)
		rec.next(t)
	}
	testutil.EventuallyTrue(t, waitTimeout, "the queue drained", func() bool { return b.t.Stats().QueuedBytes == 0 })
}
