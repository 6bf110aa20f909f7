package nio

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/testutil"
)

// EngineGoroutine: while a connection waited for one of the Workers slots, the frames it
// had decoded (a read's worth, up to 64 KiB, each copied) were counted in
// Stats.QueuedBytes but bounded by no budget, so with a slow listener MaxConnections
// connections held about MaxConnections × 64 KiB (256 MiB at the default 4096): here 96
// connections each with a frame of 30 KiB held 2.8 MiB of decoded frames. Now
// MaxQueuedBytes bounds them, all connections together: a connection whose next frame does
// not fit waits, not reading (Stats.ReadPauses), and every frame is delivered once the
// listener goes on.
func TestGoroutineQueuedBytesWithinTheBudget(t *testing.T) {
	const (
		conns  = 96
		size   = 30 << 10 // frames under largeFrame: decoded from the read buffer
		budget = 256 << 10
	)
	cfg := testConfig()
	cfg.Engine = EngineGoroutine
	cfg.Workers = 1
	cfg.MaxQueuedBytes = budget
	rec := newRecorder(conns)
	release := newGate()
	b := startNode(t, cfg, func(m *channel.Message) error {
		release.wait()
		return rec.rx(m)
	})
	t.Cleanup(release.open)
	f := frame(b.wire, 0, make([]byte, size))
	for range conns {
		c := dialRaw(t, b)
		if _, err := c.Write(f); err != nil {
			t.Fatal(err)
		}
	}
	// Every connection either decoded its frame or waits for the budget to take it.
	testutil.EventuallyTrue(t, waitTimeout, "every connection decoded its frame or waits", func() bool {
		st := b.t.Stats()
		return st.FramesReceived+st.ReadPauses >= conns
	})
	st := b.t.Stats()
	t.Logf("%d connections with a frame of %d bytes, the listener blocked: %d bytes queued (budget %d), %d frames decoded, %d waits",
		conns, len(f), st.QueuedBytes, budget, st.FramesReceived, st.ReadPauses)
	if st.QueuedBytes > budget {
		t.Fatalf("%d bytes of decoded frames wait for a worker, over MaxQueuedBytes %d", st.QueuedBytes, budget)
	}
	if st.ReadPauses == 0 {
		t.Fatal("no connection waited for the budget")
	}
	release.open()
	for range conns {
		if m := rec.next(t); len(m.Data) != size {
			t.Fatalf("delivered %d bytes, want %d", len(m.Data), size)
		}
	}
	testutil.EventuallyTrue(t, waitTimeout, "the queue drained", func() bool { return b.t.Stats().QueuedBytes == 0 })
	if st := b.t.Stats(); st.MessagesDelivered != conns || st.FramesRejected != 0 || st.FramesRefused != 0 {
		t.Fatalf("delivered %d of %d messages (%d rejected, %d refused)", st.MessagesDelivered, conns, st.FramesRejected, st.FramesRefused)
	}
}

// A connection whose frames do not all fit MaxQueuedBytes decodes and delivers them in
// batches the budget takes, in order and without losing one: as each is delivered, the
// decoded frames waiting hold at most the budget (a batch held a whole read before, up to
// 64 KiB, about 60 of these frames).
func TestGoroutineQueueBudgetKeepsOrder(t *testing.T) {
	const (
		n      = 400
		budget = 4 << 10 // a few of the frames below
	)
	cfg := testConfig()
	cfg.Engine = EngineGoroutine
	cfg.MaxQueuedBytes = budget
	g := newSeqGate(t, n)
	var tr atomic.Pointer[Transport]
	var most atomic.Int64
	b := startNode(t, cfg, func(m *channel.Message) error {
		if q := tr.Load().Stats().QueuedBytes; q > most.Load() {
			most.Store(q) // one connection: one delivery at a time
		}
		return g.rx(m)
	})
	tr.Store(b.t)
	g.release.open()
	c := dialRaw(t, b)
	if _, err := c.Write(seqStream(t, b, n, 1000)); err != nil {
		t.Fatal(err)
	}
	g.inOrder(t)
	t.Logf("%d frames of about 1 KiB on one connection: at most %d bytes queued at a delivery (budget %d)", n, most.Load(), budget)
	if most.Load() > budget {
		t.Fatalf("%d bytes of decoded frames waited at a delivery, over MaxQueuedBytes %d", most.Load(), budget)
	}
	testutil.EventuallyTrue(t, waitTimeout, "the queue drained", func() bool { return b.t.Stats().QueuedBytes == 0 })
}

// Stop ends the connections waiting for the queue budget at once, while the frames taken
// before them still wait for a blocked listener: they hold no Workers slot and no queued
// bytes, and their frames, neither decoded nor acknowledged, are left unread.
func TestStopEndsConnectionsWaitingForTheQueueBudget(t *testing.T) {
	const conns = 16
	cfg := testConfig()
	cfg.Engine = EngineGoroutine
	cfg.Workers = 1
	cfg.MaxQueuedBytes = 64 << 10
	tr, release, started, _ := startBlocked(t, cfg)
	t.Cleanup(release.open)
	b := &node{t: tr, member: memberOf(tr)}
	b.wire, _ = b.member.MarshalBinary()
	f := frame(b.wire, channel.OptUseAck, make([]byte, 30<<10))
	for range conns {
		if _, err := dialRaw(t, b).Write(f); err != nil {
			t.Fatal(err)
		}
	}
	<-started
	testutil.EventuallyTrue(t, waitTimeout, "every connection decoded its frame or waits", func() bool {
		st := tr.Stats()
		return st.FramesReceived+st.ReadPauses >= conns
	})
	taken := int64(tr.Stats().FramesReceived)
	if taken >= conns {
		t.Fatalf("all %d frames taken by a budget of 2 of them", taken)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the listener holds its frame: Stop gives up at once
	if err := tr.Stop(ctx, channel.SvcAll); !errors.Is(err, context.Canceled) {
		t.Fatalf("Stop = %v, want context.Canceled", err)
	}
	testutil.EventuallyTrue(t, waitTimeout, "the waiting connections ended", func() bool {
		return tr.Stats().ConnsOpen == taken
	})
	release.open()
	testutil.EventuallyTrue(t, waitTimeout, "every connection ended", func() bool {
		st := tr.Stats()
		return st.ConnsOpen == 0 && st.QueuedBytes == 0
	})
	if st := tr.Stats(); int64(st.AcksSent) > taken {
		t.Fatalf("%d frames acknowledged, but only %d were taken", st.AcksSent, taken)
	}
}

// A connection waiting for room for a frame larger than what is left is not overtaken by
// smaller frames that would fit: while it waits nobody takes room, and it is served first
// once bytes are given back (before, small frames arriving all the time could keep a frame
// of about the budget's size waiting for ever).
func TestQueueBudgetServesWaitersInOrder(t *testing.T) {
	var st counters
	g := newQueueGate(&st, 100)
	if !g.tryTake(90) {
		t.Fatal("90 bytes of an empty budget of 100 not taken")
	}
	done := make(chan bool, 1)
	go func() { done <- g.wait(50, true, func() bool { return false }) }()
	testutil.EventuallyTrue(t, waitTimeout, "the connection waits", func() bool { return st.readPauses.Load() == 1 })
	if g.tryTake(5) {
		t.Fatal("5 bytes taken past a connection waiting for 50")
	}
	g.add(-90)
	if !<-done {
		t.Fatal("the waiting connection was not served")
	}
	if q := st.queuedBytes.Load(); q != 50 {
		t.Fatalf("%d bytes queued, want the waiter's 50", q)
	}
}
