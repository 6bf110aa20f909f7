package nio

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/wire"
)

// goroutineConfig is testConfig on EngineGoroutine.
func goroutineConfig() Config {
	cfg := testConfig()
	cfg.Engine = EngineGoroutine
	return cfg
}

// At most Workers ReceiveFuncs run at once on EngineGoroutine, however many connections
// have a message; the others wait and are delivered once one returns.
func TestGoroutineEngineBoundsConcurrentDeliveries(t *testing.T) {
	const conns = 4
	cfg := goroutineConfig()
	cfg.Workers = 2
	release := newGate()
	var running, peak atomic.Int32
	var delivered sync.WaitGroup
	delivered.Add(conns)
	b := startNode(t, cfg, func(*channel.Message) error {
		n := running.Add(1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		release.wait()
		running.Add(-1)
		delivered.Done()
		return nil
	})
	t.Cleanup(release.open)
	src, _ := b.member.MarshalBinary()
	for range conns {
		c := dialRaw(t, b)
		if _, err := c.Write(frame(src, 0, []byte("x"))); err != nil {
			t.Fatal(err)
		}
	}
	testutil.EventuallyTrue(t, waitTimeout, "every frame decoded", func() bool { return b.t.Stats().FramesReceived == conns })
	testutil.EventuallyTrue(t, waitTimeout, "Workers deliveries running", func() bool { return running.Load() == 2 })
	release.open()
	delivered.Wait()
	if p := peak.Load(); p != 2 {
		t.Fatalf("%d ReceiveFuncs ran at once, Workers is 2", p)
	}
}

// The sweeper of EngineGoroutine counts an ACK write blocked for more than a tick as an ack
// pause (once per write) and closes a connection whose write stays blocked for
// FrameTimeout (Stats.ConnsStalled). The blocked write is simulated by its timestamp: a
// loopback peer's kernel buffers decide when a real one blocks
// (TestPeerNotReadingAcksIsPausedThenClosed).
func TestGoroutineEngineClosesStalledWriters(t *testing.T) {
	cfg := goroutineConfig()
	cfg.FrameTimeout = 20 * time.Second // ticks every second; generous against late ticks
	rec := newRecorder(1)
	b := startNode(t, cfg, rec.rx)
	src, _ := b.member.MarshalBinary()
	c := dialRaw(t, b)
	if _, err := c.Write(frame(src, channel.OptUseAck, []byte("x"))); err != nil {
		t.Fatal(err)
	}
	readAcks(t, c, 1)
	rec.next(t) // delivered after its ACK's write returned: the goroutine is done with writeSince
	np := b.t.rcv.np
	var gc *gconn
	np.mu.Lock()
	for g := range np.conns {
		gc = g
	}
	np.mu.Unlock()
	// A write blocked for more than a tick: a pause, counted once however many ticks see it.
	gc.writeSince.Store(np.now.Load() - int64(1500*time.Millisecond))
	testutil.EventuallyTrue(t, waitTimeout, "an ack pause", func() bool { return b.t.Stats().AckPauses == 1 })
	seen := np.now.Load()
	testutil.EventuallyTrue(t, waitTimeout, "the sweeper to tick again", func() bool { return np.now.Load() > seen })
	if st := b.t.Stats(); st.AckPauses != 1 || st.ConnsOpen != 1 {
		t.Fatalf("stats %+v", st)
	}
	// Blocked for longer than FrameTimeout: closed as stalled.
	gc.writeSince.Store(np.now.Load() - 2*int64(cfg.FrameTimeout))
	expectClosed(t, c)
	testutil.EventuallyTrue(t, waitTimeout, "counted as stalled", func() bool {
		st := b.t.Stats()
		return st.ConnsStalled == 1 && st.ConnsOpen == 0 && st.ConnsTimedOut == 0
	})
}

// A ReceiveFunc that does not return holds its connection's goroutine: Stop returns once
// its context ends, with the context's error, and the goroutine ends when the ReceiveFunc
// returns; what the connection had decoded after it is dropped.
func TestGoroutineEngineStopWhileDelivering(t *testing.T) {
	tr, release, started, delivered := startBlocked(t, goroutineConfig())
	t.Cleanup(release.open)
	m := memberOf(tr)
	src, _ := m.MarshalBinary()
	c := dialRaw(t, &node{t: tr, member: m})
	if _, err := c.Write(append(frame(src, 0, []byte("x")), frame(src, 0, []byte("y"))...)); err != nil {
		t.Fatal(err)
	}
	<-started
	testutil.EventuallyTrue(t, waitTimeout, "both frames decoded", func() bool { return tr.Stats().FramesReceived == 2 })
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := tr.Stop(ctx, channel.SvcAll); !errors.Is(err, context.Canceled) {
		t.Fatalf("Stop = %v, want the context's error", err)
	}
	expectClosed(t, c)
	release.open()
	testutil.EventuallyTrue(t, waitTimeout, "the connection's goroutine to end", func() bool { return tr.Stats().ConnsOpen == 0 })
	if n := delivered.Load(); n != 1 {
		t.Fatalf("%d messages delivered after Stop's context ended, want only the one running", n)
	}
}

// USE_ACK frames without SYNC pipelined in one write are acknowledged before their
// delivery, several with one write, and in frame order with the SYNC ones between them,
// which are acknowledged after theirs.
func TestGoroutineEngineAckOrderInABatch(t *testing.T) {
	var mu sync.Mutex
	var order []string
	b := startNode(t, goroutineConfig(), func(m *channel.Message) error {
		mu.Lock()
		defer mu.Unlock()
		order = append(order, string(m.Data))
		if string(m.Data) == "fail" {
			return errors.New("refused")
		}
		return nil
	})
	src, _ := b.member.MarshalBinary()
	sync := channel.OptUseAck | channel.OptSyncAck
	var stream []byte
	for _, f := range []struct {
		opts channel.SendOptions
		data string
	}{{channel.OptUseAck, "a1"}, {channel.OptUseAck, "a2"}, {0, "none"}, {sync, "fail"}, {channel.OptUseAck, "a3"}, {sync, "s"}} {
		stream = append(stream, frame(src, f.opts, []byte(f.data))...)
	}
	c := dialRaw(t, b)
	if _, err := c.Write(stream); err != nil {
		t.Fatal(err)
	}
	got := readAcks(t, c, 5)
	want := []wire.AckKind{wire.Ack, wire.Ack, wire.FailAck, wire.Ack, wire.Ack}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("answers %v, want %v", got, want)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(order) != 6 || order[0] != "a1" || order[5] != "s" {
		t.Fatalf("delivered %v", order)
	}
}
