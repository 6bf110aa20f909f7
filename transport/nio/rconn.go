package nio

import (
	"bytes"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/wire"
)

// rconn is the receiver's state for one inbound connection.
//
// The event loop decodes frames and queues them; a worker takes the whole queue at once and
// processes it in order. With Config.DeliverOnEventLoop the loop delivers each frame and
// writes its ACK itself instead (deliverNow), and nothing is queued. ACKs that may be written at decode time (USE_ACK without SYNC,
// nothing still waiting to be acknowledged by a worker, and a connection that carried a
// member's frame) are written by the loop itself; all
// others by the worker (writeAck). The loop writes only while no worker's ACK is pending
// and a worker only while one is, so they never write at once, and ACKs leave in frame
// order.
type rconn struct {
	r   *receiver
	c   gnet.Conn
	dec decoder

	fd     int       // immutable: the socket, which workers write ACKs to (see writeAck)
	opened time.Time // immutable
	remote string    // immutable, for logs
	peer   string    // immutable: the remote IP, the key of rate-limited logs

	// Read by OnTick, written by the loop: deadlines.
	started    atomic.Bool  // a byte arrived
	frameSince atomic.Int64 // unix ns since a partial frame waits (reset by each complete frame); 0 none
	outSince   atomic.Int64 // unix ns since decoding waits for the peer to read its ACKs; 0 none

	// Owned by the connection's event loop.
	inHeld     int64 // inbound bytes counted in Stats.PendingBytes
	strays     int64 // the part of them counted in strangers' share (decoder.strangerHeld)
	batch      []inItem
	batchBytes int
	early      int  // ACKs of the batch to write before it is queued (writeEarlyAcks)
	dead       bool // a protocol error closed the connection
	ackDone    gnet.AsyncCallback

	// ACK bookkeeping between the loop and the worker. pendingAcks is raised by the loop
	// when it queues a message to acknowledge and lowered once the ACK is written; viaLoop
	// makes workers hand their ACKs to the loop (AsyncWrite) because bytes may wait in
	// gnet's outbound buffer, which a write of their own would overtake. The loop sets it
	// when it leaves bytes there and clears it once nothing is pending or buffered.
	pendingAcks atomic.Int64
	viaLoop     atomic.Bool

	// Owned by the worker that runs the connection's queue.
	stranger bool // the channel refused a message from a non-member: the rest is skipped

	// Shared between the loop and workers.
	cmu     sync.Mutex // held by workers and OnTick around gnet calls, and by onClose
	closed  bool       // under cmu: onClose ran, gnet must not be called any more
	byStop  bool       // under cmu: onClose ran once Stop began (Stop closed it, most likely)
	expired bool       // under cmu: OnTick closed it, or the loop closed it for overflow: counted once

	mu        sync.Mutex
	q         []inItem
	spare     []inItem
	scheduled bool          // a worker owns or will own the queue
	paused    bool          // decoding stopped because queued >= limit
	drained   chan struct{} // (1) the worker unpaused the connection; awaitDrain waits for it
	queued    atomic.Int64  // bytes in q or being processed; written under mu
}

// readBufferCap is gnet's per-loop read buffer: the most read from a socket at once.
const readBufferCap = 256 << 10

// ackRun is a run of ACK frames, so that the loop can acknowledge several frames of one
// read with a single write.
var ackRun = bytes.Repeat(wire.AckFrame, 32)

func (rc *rconn) onTraffic() gnet.Action {
	if rc.dead {
		return gnet.Close
	}
	if !rc.started.Load() && rc.c.InboundBuffered() > 0 {
		rc.started.Store(true)
	}
	rc.directAcks()
	var frames, nbytes int
	progress := false // a frame completed: queued, or delivered on the loop
	held := false     // decoding stopped by the receiver's own limits, not by a partial frame
	act := gnet.None
	for {
		if rc.queued.Load()+int64(rc.batchBytes) >= rc.r.limit && rc.pause() {
			held = true
			break
		}
		if rc.acksUnread() {
			held = true
			break
		}
		cd, n, ok, err := rc.dec.next(rc.c)
		if err != nil {
			rc.reject(err)
			act = gnet.Close
			break
		}
		if !ok {
			break
		}
		progress = true
		mode := ackModeOf(channel.SendOptions(cd.Options))
		from, counted := rc.dec.takeArrival()
		if rc.r.inline {
			// Counted before it is delivered, as a frame a worker delivers is.
			rc.r.st.framesReceived.Add(1)
			rc.r.st.bytesReceived.Add(uint64(n))
			ok := rc.deliverNow(rc.message(&cd), mode)
			if counted {
				rc.r.arriving.add(from, -1)
			}
			if !ok {
				act = gnet.Close
				break
			}
			continue
		}
		frames++
		nbytes += n
		msg := rc.message(&cd)
		acked := false
		switch {
		case mode == ackBefore && rc.pendingAcks.Load() == 0 && rc.dec.trusted.Load():
			rc.early++ // written before the batch is queued, so before anything a worker writes
			mode, acked = ackNone, true
		case mode != ackNone:
			// A worker writes it; a non-member's ACK too, right before its delivery, so
			// that none goes out for frames dropped once the channel refuses one of them.
			rc.pendingAcks.Add(1)
		}
		rc.batch = append(rc.batch, inItem{msg: msg, size: n, ack: mode, from: from, counted: counted, acked: acked})
		rc.batchBytes += n
	}
	if frames > 0 {
		rc.r.st.framesReceived.Add(uint64(frames))
		rc.r.st.bytesReceived.Add(uint64(nbytes))
	}
	rc.writeEarlyAcks()
	rc.flush()
	over := rc.track(progress, held)
	if act != gnet.None {
		return act
	}
	switch {
	case rc.c.InboundBuffered() > rc.r.hardCap:
		rc.dead = true
		rc.cmu.Lock() // OnTick may have closed it meanwhile (stalled): count the close once
		first := !rc.expired
		rc.expired = true
		rc.cmu.Unlock()
		if first {
			rc.r.st.connsOverflowed.Add(1)
			rc.r.plog.Log(slog.LevelError, rc.peer, "overflow", "tribes receiver closing a connection that buffers too much",
				"remote", rc.remote, "buffered", rc.c.InboundBuffered(), "limit", rc.r.hardCap)
		}
		return gnet.Close
	case rc.inHeld > largeFrame && rc.r.st.pendingBytes.Load()+rc.r.st.queuedBytes.Load() > rc.r.maxPending:
		rc.reject(errOverBudget)
		return gnet.Close
	case !rc.dec.strangerHeld(rc.c, &rc.strays):
		rc.reject(errStrangersOverBudget)
		return gnet.Close
	case over: // a partial small frame past the budget
		rc.reject(errOverBudget)
		return gnet.Close
	}
	return gnet.None
}

// acksUnread reports whether MaxConnOutboundBytes wait to be written to the peer: then
// decoding stops, so that no more ACKs are queued, until the peer reads (OnTick wakes the
// connection to check) or FrameTimeout closes it.
func (rc *rconn) acksUnread() bool {
	if rc.c.OutboundBuffered() < rc.r.maxOut {
		if rc.outSince.Load() != 0 {
			rc.outSince.Store(0)
		}
		return false
	}
	if rc.outSince.Load() == 0 {
		rc.outSince.Store(time.Now().UnixNano())
		rc.r.st.ackPauses.Add(1)
	}
	return true
}

// track updates the connection's share of Stats.PendingBytes (its undecoded inbound bytes)
// and the start of the partial frame it waits for, and reports whether its growth would
// pass MaxPendingBytes (countBuffered: not counted, the connection to be refused). A
// frame that completes resets the frame deadline; bytes held back by the receiver's own
// limits do not start it.
func (rc *rconn) track(progress, held bool) (over bool) {
	in := int64(rc.c.InboundBuffered())
	over = !rc.r.countBuffered(in, &rc.inHeld)
	if progress || held {
		if rc.frameSince.Load() != 0 {
			rc.frameSince.Store(0)
		}
	}
	if !held && (in > 0 || rc.dec.asm != nil) && rc.frameSince.Load() == 0 {
		rc.frameSince.Store(time.Now().UnixNano())
	}
	return over
}

// expire closes the connection from OnTick, once, counting it in ctr.
func (rc *rconn) expire(ctr *atomic.Uint64, kind, why string, after time.Duration) {
	rc.gnetCall(func() {
		if rc.expired {
			return
		}
		rc.expired = true
		ctr.Add(1)
		rc.r.plog.Log(slog.LevelWarn, rc.peer, kind, "tribes receiver closing a connection that "+why,
			"remote", rc.remote, "after", after)
		_ = rc.c.Close()
	})
}

// pause stops decoding when the connection's queue is at its limit. It decides under the
// lock the workers take to shrink the queue, so a worker that drains it afterwards sees
// paused and wakes the loop. The batch decoded so far is queued with it.
func (rc *rconn) pause() bool {
	rc.writeEarlyAcks()
	rc.mu.Lock()
	if rc.queued.Load()+int64(rc.batchBytes) < rc.r.limit {
		rc.mu.Unlock()
		return false
	}
	was := rc.paused
	rc.paused = true
	rc.enqueueLocked()
	if !was {
		select {
		case <-rc.drained: // left from an earlier pause that nobody waited for
		default:
		}
	}
	rc.mu.Unlock()
	if !was {
		rc.r.st.readPauses.Add(1)
		if rc.awaitDrain() {
			return false
		}
	}
	return true
}

// pauseWait is how long the event loop waits, once per pause, for a worker to drain a
// connection's full queue.
const pauseWait = 20 * time.Millisecond

// awaitDrain waits up to pauseWait for the worker to drain the queue that just paused the
// connection, and reports whether it did. Meanwhile the peer's bytes stay in the socket and
// TCP slows the peer down; once the loop returns to gnet, gnet reads them into its buffer
// (it cannot stop reading one connection), where a peer streaming large frames faster
// than a briefly descheduled worker takes them fills MaxConnQueueBytes within
// milliseconds and the connection is closed. Waiting once per pause bounds what a slow
// application costs the loop's other connections.
func (rc *rconn) awaitDrain() bool {
	t := time.NewTimer(pauseWait)
	defer t.Stop()
	select {
	case <-rc.drained:
		return true
	case <-t.C:
		return false
	}
}

// flush queues the decoded batch for a worker.
func (rc *rconn) flush() {
	if len(rc.batch) == 0 {
		return
	}
	rc.mu.Lock()
	rc.enqueueLocked()
	rc.mu.Unlock()
}

func (rc *rconn) enqueueLocked() {
	if len(rc.batch) == 0 {
		return
	}
	if rc.q == nil {
		rc.q, rc.batch = rc.batch, rc.q[:0]
	} else {
		rc.q = append(rc.q, rc.batch...)
		clear(rc.batch)
		rc.batch = keptItems(rc.batch)
	}
	rc.queued.Add(int64(rc.batchBytes))
	rc.r.st.queuedBytes.Add(int64(rc.batchBytes))
	rc.batchBytes = 0
	if !rc.scheduled {
		rc.scheduled = true
		rc.r.pool.submit(rc)
	}
}

func (rc *rconn) reject(err error) {
	rc.dead = true
	rc.r.reject(err, rc.peer, rc.remote)
}

// reject counts and logs a frame that closes its connection (peer and remote name it in
// the log): refused for the budget (errOverBudget), or invalid; an oversize one is also
// reported lost with its sender.
func (r *receiver) reject(err error, peer, remote string) {
	if errors.Is(err, errOverBudget) {
		r.st.framesRefused.Add(1)
		r.plog.Log(slog.LevelWarn, peer, "over-budget", "tribes receiver closing a connection: no budget for its frame",
			"remote", remote, "pending", r.st.pendingBytes.Load(), "max", r.maxPending)
		return
	}
	r.st.framesRejected.Add(1)
	var lost *lostFrame
	if errors.As(err, &lost) {
		r.plog.Log(slog.LevelError, peer, "oversize", "tribes receiver refusing a frame larger than MaxFrameSize; closing its connection",
			"remote", remote, "source", lost.source.Address.String(), "size", lost.size, "max", r.maxBody)
		r.lose(lost)
		return
	}
	r.plog.Log(slog.LevelError, peer, "invalid-frame", "tribes receiver closing connection after an invalid frame",
		"remote", remote, "err", err)
}

// onClose runs on the loop when the connection closes. Complete frames still buffered
// (because decoding was paused) are processed as Java does at EOF, but for those asking
// for an ACK, which is no longer possible: process drops them, as the ones queued before
// them (Stats.FramesAbandoned). A trailing partial frame is dropped, and reported lost if
// its header named its sender. When Stop closed the connection, its complete frames are
// queued too, those asking for an ACK included, and delivered as the ones queued before
// them (or dropped, once Stop's context ended), as EngineGoroutine delivers the frames it
// read (TestFramesBufferedAtAGracefulStopDelivered,
// TestAckFramesBufferedAtAGracefulStopDelivered); a partial frame is dropped without a
// report, Stop having cut it off.
func (rc *rconn) onClose(error) {
	rc.cmu.Lock()
	rc.closed = true
	byStop := rc.r.stopping.Load()
	rc.byStop = byStop
	rc.cmu.Unlock()
	rc.r.st.pendingBytes.Add(-rc.inHeld)
	rc.inHeld = 0
	rc.dec.releaseHeld(&rc.strays)
	defer rc.dec.abandon()
	if rc.dead {
		return
	}
	rc.dec.direct = nil // only what was read already
	for {
		cd, n, ok, err := rc.dec.next(rc.c)
		if err != nil {
			rc.flush()
			return
		}
		if !ok {
			break
		}
		rc.r.st.framesReceived.Add(1)
		rc.r.st.bytesReceived.Add(uint64(n))
		from, counted := rc.dec.takeArrival()
		// One asking for an ACK is dropped by process (Stats.FramesAbandoned), unless Stop
		// closed the connection.
		rc.batch = append(rc.batch, inItem{msg: rc.message(&cd), size: n, ack: ackModeOf(channel.SendOptions(cd.Options)),
			from: from, counted: counted})
		rc.batchBytes += n
	}
	rc.flush()
	if !byStop {
		rc.r.cutOff(&rc.dec, rc.c, rc.peer, rc.remote)
	}
}

// cutOff reports the frame that dec, whose connection closed, left incomplete with the
// bytes in in, if its header named the sender.
func (r *receiver) cutOff(dec *decoder, in inbound, peer, remote string) {
	var lost *lostFrame
	if errors.As(dec.cutOff(in), &lost) {
		r.plog.Log(slog.LevelWarn, peer, "cut-off", "tribes receiver lost a frame: its connection closed before it arrived whole",
			"remote", remote, "source", lost.source.Address.String(), "err", lost.err)
		r.lose(lost)
	}
}

// run is the worker side: process everything queued, in order, then give the connection
// back to the pool's FIFO if more arrived meanwhile.
func (rc *rconn) run() {
	rc.mu.Lock()
	batch := rc.q
	rc.q, rc.spare = rc.spare, nil
	rc.mu.Unlock()

	var done int
	for i := range batch {
		it := &batch[i]
		rc.process(it)
		done += it.size
		*it = inItem{}
	}

	rc.mu.Lock()
	if rc.spare == nil {
		rc.spare = keptItems(batch)
	}
	rc.queued.Add(-int64(done))
	rc.r.st.queuedBytes.Add(-int64(done))
	wake := rc.paused && rc.queued.Load() < rc.r.limit
	if wake {
		rc.paused = false
		select {
		case rc.drained <- struct{}{}:
		default:
		}
	}
	more := len(rc.q) > 0
	rc.scheduled = more
	rc.mu.Unlock()
	if wake {
		rc.gnetCall(func() { _ = rc.c.Wake(nil) })
	}
	if more {
		rc.r.pool.submit(rc)
	}
}

// process delivers one message. When the channel refuses it as a non-member's
// (channel.ErrNotMember, after the FAIL_ACK a synchronized-ack sender gets), the connection
// is closed and what it still has queued is dropped, but for the frames acknowledged
// already (early ACKs, on a connection that carried a member's frame): a stranger flooding
// valid frames gets one message per connection to the workers, not a share of them equal
// to a member's. Once Stop's context ended, what is queued is dropped
// (Stats.FramesDroppedByStop). A message asking for an ACK not written yet whose connection closed
// while it waited for its turn is dropped, neither delivered nor acknowledged
// (Stats.FramesAbandoned), as EngineGoroutine does with one whose peer it sees gone; one
// without ACK, or acknowledged already, is delivered, and so is one whose connection
// closed once Stop began: a Stop whose context has not ended delivers what is queued, as
// EngineGoroutine and Java Tribes do (TestAckFrameQueuedAtAGracefulStopDelivered).
func (rc *rconn) process(it *inItem) {
	r := rc.r
	defer r.settled(&rc.dec)
	if it.counted {
		defer r.arriving.add(it.from, -1)
	}
	if refused := rc.stranger && !it.acked; refused || r.dropping.Load() {
		if !refused {
			r.st.framesDroppedByStop.Add(1)
		}
		// Never delivered: nothing holds its buffer. An ACK the loop counted in
		// pendingAcks stays counted: the connection is closing (the refusal that set
		// stranger closed it; dropping: Stop closes them all), and a count left raised
		// only routes its remaining ACKs through the workers and the loop. Reads pause on
		// queued and outbound bytes, never on pendingAcks.
		it.msg.Release()
		return
	}
	if it.ack != ackNone && rc.abandoned() {
		// Its ACK can reach no one: the sender gave up on it (its Timeout, or the lost
		// connection) and may send it again (Stats.FramesAbandoned).
		r.st.framesAbandoned.Add(1)
		it.msg.Release()
		return
	}
	if err := r.deliverAcked(it.msg, it.ack, rc.writeAck, nil); errors.Is(err, channel.ErrNotMember) && !rc.stranger {
		rc.stranger = true
		rc.countStranger(it.msg)
		rc.gnetCall(func() { _ = rc.c.Close() })
	}
}

// countStranger counts and logs a connection closed for carrying msg, a non-member's.
func (rc *rconn) countStranger(msg *channel.Message) { rc.r.countStranger(msg, rc.peer, rc.remote) }

// countStranger counts and logs a connection (peer, remote) closed for carrying msg, a
// non-member's.
func (r *receiver) countStranger(msg *channel.Message, peer, remote string) {
	r.st.connsNonMember.Add(1)
	r.plog.Log(slog.LevelWarn, peer, "non-member", "tribes receiver closing a connection that carried a non-member's message",
		"remote", remote, "source", msg.Source.String())
}

// deliverNow delivers msg on the event loop (Config.DeliverOnEventLoop) and writes its ACK
// there. It returns false when the connection must close: the channel refused a
// non-member's message.
func (rc *rconn) deliverNow(msg *channel.Message, mode ackMode) bool {
	r := rc.r
	defer r.settled(&rc.dec)
	if r.dropping.Load() {
		r.st.framesDroppedByStop.Add(1)
		msg.Release() // never delivered: nothing holds its buffer
		return true
	}
	if err := r.deliverAcked(msg, mode, rc.loopAck, nil); !errors.Is(err, channel.ErrNotMember) {
		return true
	}
	rc.dead = true
	rc.countStranger(msg)
	return false
}

// message is the channel message of the frame the decoder just returned. A large frame's
// message aliases the frame's buffer; its Release gives that buffer back to the
// receiver's pool.
func (rc *rconn) message(cd *wire.ChannelData) *channel.Message { return rc.r.message(&rc.dec, cd) }

// abandoned reports whether onClose ran before Stop began: an ACK can no longer be
// written, and the sender, not Stop, gave up on the frames (or the receiver closed the
// connection for a fault of its peer's).
func (rc *rconn) abandoned() bool {
	rc.cmu.Lock()
	defer rc.cmu.Unlock()
	return rc.closed && !rc.byStop
}

// gnetCall runs f, a call into gnet from a worker, unless the connection closed. gnet's
// asynchronous calls queue a task for the event loop and signal its eventfd; after the
// engine stopped that descriptor is closed and its number may belong to another file, so
// workers must not make them once onClose (which gnet runs before it tears down) marked the
// connection closed.
func (rc *rconn) gnetCall(f func()) {
	rc.cmu.Lock()
	defer rc.cmu.Unlock()
	if !rc.closed {
		f()
	}
}
