package nio

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/bits"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/ratelog"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/wire"
)

// The connection beyond MaxConnections is closed at once; the others keep working.
func TestMaxConnectionsRefusesTheNextOne(t *testing.T) {
	forEachEngine(t, func(t *testing.T, ecfg Config) {
		cfg := ecfg
		cfg.MaxConnections = 3
		rec := newRecorder(8)
		b := startNode(t, cfg, rec.rx)
		src, _ := b.member.MarshalBinary()
		var conns []net.Conn
		for range 3 {
			c := dialRaw(t, b)
			if _, err := c.Write(frame(src, channel.OptUseAck, []byte("x"))); err != nil {
				t.Fatal(err)
			}
			if k := readAcks(t, c, 1); k[0] != wire.Ack {
				t.Fatalf("ack %v", k)
			}
			rec.next(t)
			conns = append(conns, c)
		}
		extra := dialRaw(t, b)
		expectClosed(t, extra)
		testutil.EventuallyTrue(t, waitTimeout, "refused counter", func() bool { return b.t.Stats().ConnsRefused == 1 })
		for _, c := range conns {
			if _, err := c.Write(frame(src, channel.OptUseAck, []byte("y"))); err != nil {
				t.Fatal(err)
			}
			if k := readAcks(t, c, 1); k[0] != wire.Ack {
				t.Fatalf("ack %v", k)
			}
			rec.next(t)
		}
		// Closing one makes room again.
		_ = conns[0].Close()
		testutil.EventuallyTrue(t, waitTimeout, "a free slot", func() bool { return b.t.Stats().ConnsOpen == 2 })
		c := dialRaw(t, b)
		if _, err := c.Write(frame(src, channel.OptUseAck, []byte("z"))); err != nil {
			t.Fatal(err)
		}
		if k := readAcks(t, c, 1); k[0] != wire.Ack {
			t.Fatalf("ack %v", k)
		}
	})
}

// A connection that sends nothing, and one that starts a frame and dribbles it byte by
// byte, are closed; an idle connection that carried a frame (a pooled sender connection)
// stays open.
func TestIdleAndSlowConnectionsAreClosed(t *testing.T) {
	forEachEngine(t, func(t *testing.T, ecfg Config) {
		cfg := ecfg
		cfg.FirstFrameTimeout = 100 * time.Millisecond
		cfg.FrameTimeout = 300 * time.Millisecond
		rec := newRecorder(8)
		b := startNode(t, cfg, rec.rx)
		src, _ := b.member.MarshalBinary()

		pooled := dialRaw(t, b)
		if _, err := pooled.Write(frame(src, channel.OptUseAck, []byte("x"))); err != nil {
			t.Fatal(err)
		}
		readAcks(t, pooled, 1)
		rec.next(t)

		idle := dialRaw(t, b)
		slow := dialRaw(t, b)
		f := frame(src, channel.OptUseAck, make([]byte, 1000))
		dribbled := make(chan struct{})
		go func() {
			defer close(dribbled)
			tick := time.NewTicker(10 * time.Millisecond)
			defer tick.Stop()
			for i := 0; i < len(f)-1; i++ { // never the last byte
				if _, err := slow.Write(f[i : i+1]); err != nil {
					return
				}
				<-tick.C
			}
		}()
		expectClosed(t, idle)
		expectClosed(t, slow)
		<-dribbled
		testutil.EventuallyTrue(t, waitTimeout, "timed-out counter", func() bool { return b.t.Stats().ConnsTimedOut == 2 })
		rec.none(t)

		if _, err := pooled.Write(frame(src, channel.OptUseAck, []byte("y"))); err != nil {
			t.Fatal(err)
		}
		if k := readAcks(t, pooled, 1); k[0] != wire.Ack {
			t.Fatalf("ack %v", k)
		}
		if string(rec.next(t).Data) != "y" {
			t.Fatal("wrong message")
		}
	})
}

// A peer that sends use_ack,sync frames and never reads its ACKs: once
// MaxConnOutboundBytes of ACKs wait, the receiver stops decoding its frames (no more ACKs
// are queued) and closes it after FrameTimeout. The ACK bytes written stay bounded by the
// socket buffers plus the cap, whatever the peer sent.
func TestPeerNotReadingAcksIsPausedThenClosed(t *testing.T) {
	forEachEngine(t, func(t *testing.T, ecfg Config) {
		cfg := ecfg
		cfg.MaxConnOutboundBytes = 4 << 10
		// Long enough that a writer descheduled in the middle of a frame on a loaded machine
		// is not closed for an incomplete frame instead.
		cfg.FrameTimeout = 2 * time.Second
		cfg.TxBufSize = 4 << 10
		b := startNode(t, cfg, nil)
		src, _ := b.member.MarshalBinary()
		c := dialRaw(t, b)
		_ = c.(*net.TCPConn).SetReadBuffer(4 << 10)
		f := frame(src, channel.OptUseAck|channel.OptSyncAck, []byte("x"))
		var batch []byte
		for range 256 {
			batch = append(batch, f...)
		}
		var stop atomic.Bool
		written := make(chan int, 1)
		go func() {
			n := 0
			for !stop.Load() && n < 256<<20 {
				m, err := c.Write(batch)
				n += m
				if err != nil {
					break
				}
			}
			written <- n
		}()
		if ecfg.Engine == EngineGnet {
			testutil.Eventually(t, waitTimeout, func() error {
				if st := b.t.Stats(); st.AckPauses < 1 {
					return fmt.Errorf("no pause on unread ACKs: stats %+v", st)
				}
				return nil
			})
			stop.Store(true)
		}
		// EngineGoroutine counts a pause only when an ACK write blocks for a sweeper tick,
		// which depends on the kernel's buffers (TestGoroutineEngineClosesStalledWriters
		// covers its stall handling); the writer stops when the connection closes.
		// Closed as stalled (FrameTimeout) or, if the paused connection's buffer filled up
		// first, as overflowed: either way it is counted once. Nothing is read before: reading
		// the ACKs would end the stall. EngineGoroutine reads on as long as the socket takes
		// its ACKs (it has no MaxConnOutboundBytes); the peer's last write can then stop in
		// the middle of a frame (seen on loopback here: its stack sends no more while its
		// receive buffer is full), and FrameTimeout closes it as timed out instead.
		testutil.Eventually(t, waitTimeout, func() error {
			closed := stalledCloses(b.t.Stats(), ecfg.Engine)
			if st := b.t.Stats(); closed != 1 || st.ConnsOpen != 0 {
				return fmt.Errorf("want the connection closed, counted once as stalled or overflowed: stats %+v", st)
			}
			return nil
		})
		expectClosed(t, c)
		stop.Store(true)
		<-written
		st := b.t.Stats()
		if st.ConnsStalled == 1 && st.AckPauses < 1 {
			t.Fatalf("closed as stalled without an ack pause: %+v", st)
		}
		// Kernel buffers on both sides (a few hundred KiB on loopback at most with these
		// settings) plus the 4 KiB cap: far below what an unbounded node would queue.
		if acked := st.AcksSent * uint64(len(wire.AckFrame)); acked > 4<<20 {
			t.Fatalf("%d ACK bytes written to a peer that reads none", acked)
		}
		if st.ConnsOpen != 0 {
			t.Fatalf("%d connections open", st.ConnsOpen)
		}
	})
}

// stalledCloses counts the closes TestPeerNotReadingAcksIsPausedThenClosed accepts on engine e.
func stalledCloses(st Stats, e Engine) uint64 {
	n := st.ConnsStalled + st.ConnsOverflowed
	if e == EngineGoroutine {
		n += st.ConnsTimedOut
	}
	return n
}

// 100 connections, each trusted by a first complete frame (this receiver has no sender
// check: any frame trusts its connection; TestHeaderOnlyConnectionsDoNotSpendTheBudget has
// the untrusted case), each send the first part of a max-size frame, which reserves its
// whole size at its header: only as many frames as MaxPendingBytes holds are reserved, the
// others are refused and their connections closed, the heap grows by about the budget,
// and everything is given back when they close.
func TestPendingBudgetBoundsPartialFrames(t *testing.T) {
	forEachEngine(t, func(t *testing.T, ecfg Config) {
		const (
			maxFrame = 1 << 20
			budget   = 4 << 20
			conns    = 100
		)
		cfg := ecfg
		cfg.MaxFrameSize = maxFrame
		cfg.MaxPendingBytes = budget
		rec := newRecorder(4)
		b := startNode(t, cfg, rec.rx)
		src, _ := b.member.MarshalBinary()
		big := wire.AppendChannelDataFrame(nil, uint32(channel.OptUseAck), 1, channel.NewMessageID(), src,
			make([]byte, maxFrame-wire.ChannelDataLen(16, len(src), 0)))
		if len(big) != wire.FrameLen(maxFrame) {
			t.Fatalf("frame of %d bytes, want %d", len(big), wire.FrameLen(maxFrame))
		}
		fits := budget / len(big)

		small := wire.AppendChannelDataFrame(nil, 0, 1, channel.NewMessageID(), src, []byte("x"))
		before := heapInUse()
		var cs []net.Conn
		for range conns {
			c := dialRaw(t, b)
			if _, err := c.Write(small); err != nil {
				t.Fatal(err)
			}
			rec.next(t)
			if _, err := c.Write(big[:1024]); err != nil {
				t.Fatal(err)
			}
			cs = append(cs, c)
		}
		testutil.EventuallyTrue(t, waitTimeout, "refusals", func() bool { return b.t.Stats().FramesRefused == uint64(conns-fits) })
		st := b.t.Stats()
		if st.PendingBytes > budget || st.PendingBytes < int64(fits*len(big)) {
			t.Fatalf("pending %d bytes, want %d reserved frames within %d", st.PendingBytes, fits, budget)
		}
		testutil.EventuallyTrue(t, waitTimeout, "refused connections closed", func() bool { return b.t.Stats().ConnsOpen == int64(fits) })
		if grew := heapInUse() - before; grew > budget+8<<20 {
			t.Fatalf("heap grew by %d bytes for %d partial frames (budget %d)", grew, conns, budget)
		}
		for _, c := range cs {
			_ = c.Close()
		}
		testutil.EventuallyTrue(t, waitTimeout, "budget returned", func() bool { return b.t.Stats().PendingBytes == 0 })

		// A whole frame of the maximum size still goes through.
		c := dialRaw(t, b)
		if _, err := c.Write(big); err != nil {
			t.Fatal(err)
		}
		if k := readAcks(t, c, 1); k[0] != wire.Ack {
			t.Fatalf("ack %v", k)
		}
		rec.next(t)
	})
}

// heapInUse is the heap in use after two collections: the second frees what the first
// left in sync.Pool's victim cache (gnet pools the buffer a connection's ring buffer grew
// out of, and an outgrown 4 MiB ring counted by a single collection is not held).
func heapInUse() int64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapInuse)
}

// testutil.Buffer is an io.Writer for a logger written from several goroutines.
// A peer that sends garbage and lying lengths, connection after connection: every one is
// rejected and counted, but only the first lines of each kind reach the log, so the log
// stays a few lines however long it goes on (an unlimited log wrote one line per
// connection).
func TestGarbageFloodLogIsBounded(t *testing.T) {
	forEachEngine(t, func(t *testing.T, ecfg Config) {
		var logBuf testutil.Buffer
		cfg := ecfg
		cfg.MaxFrameSize = 1 << 20
		cfg.Logger = slog.New(slog.NewTextHandler(&logBuf, &slog.HandlerOptions{Level: slog.LevelDebug}))
		b := startNode(t, cfg, nil)
		// A length above MaxFrameSize, and a body that names no sender (a frame naming one is
		// reported lost instead: TestLostFramesReportedWithTheirSender).
		lying := append(wire.AppendFrameHeader(nil, 64<<20), make([]byte, 12+4+4+4)...)
		const rounds = 200
		for i := range rounds {
			c := dialRaw(t, b)
			bad := []byte("GET / HTTP/1.1\r\n\r\n")
			if i%2 == 1 {
				bad = lying
			}
			if _, err := c.Write(bad); err != nil {
				t.Fatal(err)
			}
			expectClosed(t, c)
			_ = c.Close()
		}
		testutil.EventuallyTrue(t, waitTimeout, "every rejection counted", func() bool { return b.t.Stats().FramesRejected == rounds })
		lines := strings.Count(logBuf.String(), "invalid frame")
		if lines == 0 || lines > 2*ratelog.DefaultFirst {
			t.Fatalf("%d log lines about invalid frames for %d rejections:\n%s", lines, rounds, logBuf.String())
		}
		if n := len(logBuf.String()); n > 16<<10 {
			t.Fatalf("%d log bytes for %d rejections", n, rounds)
		}
		if !strings.Contains(logBuf.String(), "further=") {
			t.Fatal("the last logged line does not say that further ones are counted")
		}
		// Stopping writes the summary of what was counted.
		if err := b.t.Stop(context.Background(), channel.SvcReceiver); err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprintf("suppressed=%d", rounds-lines)
		if !strings.Contains(logBuf.String(), want) {
			t.Fatalf("no summary with %s:\n%s", want, logBuf.String())
		}
	})
}

// Four peers write use_ack,sync frames as fast as they can and never read their ACKs.
// Decoding of their connections pauses, but gnet keeps reading their sockets: what a
// paused connection buffers (PendingBytes) and what it has queued for the workers
// (QueuedBytes) must stay within the bound of a paused connection, MaxConnQueueBytes
// each plus one read, and past it the connection is closed.
func TestPausedConnectionsBounded(t *testing.T) {
	const conns = 4
	cfg := gnetConfig()  // gnet-only: its pause and overflow mechanics
	cfg.FrameTimeout = 0 // only the inbound bound closes them
	b := startNode(t, cfg, func(*channel.Message) error { return nil })
	src, _ := b.member.MarshalBinary()
	f := frame(src, channel.OptUseAck|channel.OptSyncAck, []byte("x"))
	var batch []byte
	for range 1024 {
		batch = append(batch, f...)
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	t.Cleanup(func() { stop.Store(true); wg.Wait() })
	for range conns {
		c := dialRaw(t, b)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				if _, err := c.Write(batch); err != nil {
					return
				}
			}
		}()
	}
	before := heapInUse()
	// A connection pauses once the ACKs of its messages (some 23 000 here) fill the peer's
	// socket buffers and MaxConnOutboundBytes: the wait lasts as long as the ACKs take.
	whileProgressing(t, 2*time.Minute, "pauses on unread ACKs", func() bool { return b.t.Stats().AckPauses >= conns },
		func() int64 { return int64(b.t.Stats().AcksSent) })
	bound := int64(conns * (2*cfg.MaxConnQueueBytes + readBufferCap))
	// The heap a paused connection takes: gnet's ring buffer, up to MaxConnQueueBytes plus
	// one read buffered in a capacity rounded up to a power of two (8 MiB), and for a moment
	// the half-size ring it grew out of (gnet reads on while it is paused); its queue, whose
	// decoded messages take more than their frame bytes (twice); its unread ACKs. Before the
	// bound each buffered 36 MiB, in a 64 MiB ring.
	ring := int64(1) << bits.Len(uint(cfg.MaxConnQueueBytes+readBufferCap-1))
	heapBound := conns * (ring + ring/2 + 2*int64(cfg.MaxConnQueueBytes) + int64(cfg.MaxConnOutboundBytes))
	grew := heapInUse() - before
	if grew > heapBound {
		t.Fatalf("heap grew by %d bytes while paused, bound %d", grew, heapBound)
	}
	var peak int64
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end) && b.t.Stats().ConnsOverflowed < conns; <-tick.C {
		st := b.t.Stats()
		peak = max(peak, st.PendingBytes+st.QueuedBytes)
	}
	if peak > bound {
		t.Fatalf("paused connections held %d bytes, bound %d", peak, bound)
	}
	// Each overflows once it buffers more than MaxConnQueueBytes and a read while paused.
	whileProgressing(t, 2*time.Minute, "overflowing connections closed", func() bool { return b.t.Stats().ConnsOverflowed >= conns },
		func() int64 { return b.t.Stats().PendingBytes })
	t.Logf("heap grew %d, bound %d; peak %d bytes held, bound %d; %+v", grew, heapBound, peak, bound, b.t.Stats())
}

// A connection whose message the channel refuses as a non-member's is closed after the
// FAIL_ACK, and the frames it still had queued are not delivered: a stranger flooding valid
// frames takes one delivery per connection from the workers.
func TestNonMemberConnectionClosed(t *testing.T) {
	forEachDelivery(t, func(t *testing.T, cfg Config) {
		var delivered atomic.Int64
		b := startNode(t, cfg, func(*channel.Message) error {
			delivered.Add(1)
			return channel.ErrNotMember
		})
		src, _ := b.member.MarshalBinary()
		f := frame(src, channel.OptUseAck|channel.OptSyncAck, []byte("x"))
		var batch []byte
		for range 1000 {
			batch = append(batch, f...)
		}
		c := dialRaw(t, b)
		if _, err := c.Write(batch); err != nil {
			t.Fatal(err)
		}
		if kinds := readAcks(t, c, 1); kinds[0] != wire.FailAck {
			t.Fatalf("answer %v, want a FAIL_ACK", kinds[0])
		}
		expectClosed(t, c)
		testutil.EventuallyTrue(t, waitTimeout, "the connection counted", func() bool { return b.t.Stats().ConnsNonMember == 1 })
		testutil.EventuallyTrue(t, waitTimeout, "the connection closed", func() bool { return b.t.Stats().ConnsOpen == 0 })
		if n := delivered.Load(); n != 1 {
			t.Fatalf("%d of 1000 messages delivered, want 1", n)
		}
	})
}

// losses records what a Transport reports through channel.LossReporter.
type losses chan channel.LostMessage

func (l losses) next(tb testing.TB) channel.LostMessage {
	tb.Helper()
	select {
	case m := <-l:
		return m
	case <-time.After(waitTimeout):
		tb.Fatal("no loss reported")
		return channel.LostMessage{}
	}
}

// A frame above the receiver's MaxFrameSize is refused, its connection closed, and the
// loss reported with the sender its header names and the size; the sender's send fails.
// A frame whose connection closes half-way is reported as lost too.
func TestLostFramesReportedWithTheirSender(t *testing.T) {
	forEachEngine(t, func(t *testing.T, ecfg Config) {
		lost := make(losses, 8)
		cfg := ecfg
		cfg.MaxFrameSize = 64 << 10
		tr, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		tr.SetLossFunc(func(l channel.LostMessage) { lost <- l })
		rec := newRecorder(4)
		if err := tr.Start(context.Background(), channel.SvcTransport, rec.rx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = tr.Stop(context.Background(), channel.SvcTransport) })
		b := &node{t: tr, member: memberOf(tr)}
		a := startNode(t, ecfg, nil)

		msg := a.msg(channel.OptUseAck|channel.OptSyncAck, make([]byte, 200<<10))
		if err := a.t.Send(context.Background(), []channel.Member{b.member}, msg); err == nil {
			t.Fatal("a frame above MaxFrameSize was acknowledged")
		}
		l := lost.next(t)
		if l.Source.UniqueID != a.member.UniqueID || !errors.Is(l.Err, channel.ErrMessageTooLarge) || l.Size < 200<<10 {
			t.Fatalf("reported %+v", l)
		}
		rec.none(t)
		// The connection still carries a message that fits.
		if err := a.t.Send(context.Background(), []channel.Member{b.member}, a.msg(channel.OptUseAck, []byte("small"))); err != nil {
			t.Fatal(err)
		}
		if got := rec.next(t); string(got.Data) != "small" {
			t.Fatalf("got %q", got.Data)
		}

		f := frame(a.wire, channel.OptUseAck, make([]byte, 40<<10))
		c := dialRaw(t, b)
		if _, err := c.Write(f[:len(f)/2]); err != nil {
			t.Fatal(err)
		}
		testutil.EventuallyTrue(t, waitTimeout, "the half frame arrived", func() bool { return tr.Stats().PendingBytes > 0 })
		_ = c.Close()
		for {
			l = lost.next(t)
			if errors.Is(l.Err, channel.ErrConnectionLost) {
				break
			}
			if !errors.Is(l.Err, channel.ErrMessageTooLarge) { // the sender's retry of the first one
				t.Fatalf("reported %+v", l)
			}
		}
		if l.Source.UniqueID != a.member.UniqueID || l.Size != len(f)-wire.FrameOverhead {
			t.Fatalf("reported %+v", l)
		}
		st := tr.Stats()
		if st.FramesLost < 2 || st.FramesLost != st.FramesRejected+1 {
			t.Fatalf("frames lost %d, rejected %d", st.FramesLost, st.FramesRejected)
		}
	})
}

// A large frame counts as arriving from its sender from the moment its header named the
// sender until it is read whole or its connection closes.
func TestArrivingLargeFrame(t *testing.T) {
	forEachEngine(t, func(t *testing.T, ecfg Config) {
		lost := make(losses, 8)
		rec := newRecorder(4)
		b := startNode(t, ecfg, rec.rx)
		b.t.SetLossFunc(func(l channel.LostMessage) { lost <- l })
		a := startNode(t, ecfg, nil)
		from := a.member.Key()
		if b.t.Arriving(from) {
			t.Fatal("arriving before anything was sent")
		}
		f := frame(a.wire, 0, make([]byte, 40<<10))
		c := dialRaw(t, b)
		if _, err := c.Write(f[:len(f)/2]); err != nil {
			t.Fatal(err)
		}
		testutil.EventuallyTrue(t, waitTimeout, "the half frame counted as arriving", func() bool { return b.t.Arriving(from) })
		if _, err := c.Write(f[len(f)/2:]); err != nil {
			t.Fatal(err)
		}
		if got := rec.next(t); len(got.Data) != 40<<10 {
			t.Fatalf("delivered %d bytes", len(got.Data))
		}
		testutil.EventuallyTrue(t, waitTimeout, "no longer arriving once delivered", func() bool { return !b.t.Arriving(from) })
		if _, err := c.Write(f[:len(f)/2]); err != nil {
			t.Fatal(err)
		}
		testutil.EventuallyTrue(t, waitTimeout, "the next half frame counted", func() bool { return b.t.Arriving(from) })
		_ = c.Close()
		if l := lost.next(t); !errors.Is(l.Err, channel.ErrConnectionLost) {
			t.Fatalf("reported %+v", l)
		}
		testutil.EventuallyTrue(t, waitTimeout, "no longer arriving once lost", func() bool { return !b.t.Arriving(from) })
	})
}

// A worker that drains a paused connection's queue below its limit ends the event loop's
// wait in awaitDrain, so that the loop decodes on instead of leaving the peer's bytes to
// gnet's buffer; a connection the worker has not drained does not.
func TestWorkerDrainEndsThePauseWait(t *testing.T) {
	r := &receiver{limit: 100, st: &counters{}}
	r.dropping.Store(true) // process drops the message: no ReceiveFunc needed
	rc := &rconn{r: r, drained: make(chan struct{}, 1), closed: true}
	rc.q = []inItem{{msg: &channel.Message{}, size: 150}}
	rc.queued.Store(150)
	rc.paused, rc.scheduled = true, true
	done := make(chan bool, 1)
	go func() { done <- rc.awaitDrain() }()
	rc.run()
	if !<-done {
		t.Fatal("the loop's wait did not end when the worker drained the queue")
	}
	if rc.paused || rc.queued.Load() != 0 {
		t.Fatalf("paused %v, queued %d after the drain", rc.paused, rc.queued.Load())
	}
	rc.paused = true // paused again, nothing drains it: the wait times out
	if rc.awaitDrain() {
		t.Fatal("the wait ended without a drain")
	}
}

// A ReceiveFunc that panics answers a synchronized-ack message with a FAIL_ACK and counts
// as a delivery error; the connection and the node stay up.
func TestPanickingReceiveFuncGetsAFailAck(t *testing.T) {
	forEachDelivery(t, func(t *testing.T, cfg Config) {
		b := startNode(t, cfg, func(m *channel.Message) error {
			if string(m.Data) == "boom" {
				panic("boom")
			}
			return nil
		})
		src, _ := b.member.MarshalBinary()
		c := dialRaw(t, b)
		sync := channel.OptUseAck | channel.OptSyncAck
		if _, err := c.Write(append(frame(src, sync, []byte("boom")), frame(src, sync, []byte("fine"))...)); err != nil {
			t.Fatal(err)
		}
		if k := readAcks(t, c, 2); k[0] != wire.FailAck || k[1] != wire.Ack {
			t.Fatalf("answers %v, want FAIL_ACK then ACK", k)
		}
		testutil.Eventually(t, waitTimeout, func() error { // an ACK is counted once its write returned
			if st := b.t.Stats(); st.DeliveryErrors != 1 || st.FailAcksSent != 1 || st.AcksSent != 1 || st.ConnsOpen != 1 {
				return fmt.Errorf("stats %+v", st)
			}
			return nil
		})
	})
}
