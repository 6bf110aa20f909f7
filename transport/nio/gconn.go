package nio

import (
	"errors"
	"log/slog"
	"net"
	"sync/atomic"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/wire"
)

// gconn is one inbound connection of EngineGoroutine, served by its own goroutine: it
// reads, decodes every complete frame read (Stats.FramesReceived), delivers them in order
// with their ACKs, and reads again. While it delivers it does not read, so a slow
// application leaves the peer's bytes in the socket and TCP slows the peer down.
type gconn struct {
	np     *netpoll
	r      *receiver
	c      *net.TCPConn
	dec    decoder
	in     connBuf
	remote string // for logs
	peer   string // the remote IP, the key of rate-limited logs
	opened int64  // unix ns

	// Deadlines, read by the sweeper: coarse-clock timestamps, 0 for none.
	started    atomic.Bool
	frameSince atomic.Int64 // a partial frame waits since
	writeSince atomic.Int64 // an ACK write blocks since (the peer does not read)
	expired    atomic.Bool  // closed by the sweeper or for a protocol error: counted once
	pausedAt   int64        // owned by the sweeper: the writeSince it counted in Stats.AckPauses

	batch  []inItem
	late   inItem                      // a large frame decoded that did not fit MaxQueuedBytes, behind the batch (TestGoroutineLargeFrameWaitsBehindItsBatch)
	waited bool                        // the batch waited for MaxQueuedBytes room: its peer may have gone meanwhile
	held   int64                       // bytes of a partial small frame counted in Stats.PendingBytes
	strays int64                       // the part of them counted in strangers' share (decoder.strangerHeld)
	direct func(p []byte) (int, error) // readDirect, made once (a method value allocates)
	stop   func() bool                 // stopWaiting, made once
	gone   func() bool                 // sock.peerGone, made once
	sock   rawSock                     // c's small reads and writes
}

func newGconn(np *netpoll, c *net.TCPConn) *gconn {
	r := np.r
	gc := &gconn{np: np, r: r, c: c, opened: time.Now().UnixNano(),
		dec: r.newDecoder()}
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		gc.remote, gc.peer = a.String(), a.IP.String()
	}
	gc.direct = gc.readDirect
	gc.stop = gc.stopWaiting
	gc.gone = gc.sock.peerGone
	gc.dec.holdDone = true // a large frame stays in PendingBytes until MaxQueuedBytes takes it
	rc, _ := c.SyscallConn()
	gc.sock.init(rc, c)
	return gc
}

// serve is the connection's goroutine.
func (gc *gconn) serve() {
	r := gc.r
	defer gc.np.forget(gc)
	defer func() {
		gc.expired.Store(true) // the sweeper must not count it any more
		_ = gc.c.Close()
		r.st.pendingBytes.Add(-gc.held)
		gc.dec.releaseHeld(&gc.strays)
		if gc.late.msg != nil {
			// Left behind its batch only when the channel refused a frame of the batch as
			// a non-member's (takeLarge drops it otherwise): dropped with the connection,
			// not by Stop (TestGoroutineLargeFrameBehindARefusedOneNotDroppedByStop).
			gc.drop(&gc.late)
		}
		gc.dec.releaseDone()
		gc.dec.abandon()
		gc.in.release()
	}()
	for {
		if !gc.decodeAndDeliver() {
			return
		}
		if err := gc.trackPartial(); err != nil {
			gc.markExpired()
			r.reject(err, gc.peer, gc.remote)
			return
		}
		// While a large frame is read, and after one, a read into the empty buffer takes
		// connBufMin bytes at most: the decoder copies what it takes of the frame out of
		// the buffer into the frame's own, so that much at most instead of up to
		// connBufMax, and reads the rest straight into the frame's buffer
		// (decoder.readDirect).
		gc.in.most = 0
		if (gc.dec.lastLarge || gc.dec.asm != nil) && gc.in.InboundBuffered() == 0 {
			gc.in.most = connBufMin
		}
		n, err := gc.in.fill(&gc.sock)
		if n > 0 && !gc.started.Load() {
			gc.started.Store(true)
		}
		if errors.Is(err, errConnBufFull) {
			gc.expired.Store(true)
			r.reject(errConnBufFull, gc.peer, gc.remote)
			return
		}
		if err != nil {
			// EOF, an error, or closed by the sweeper or Stop: every complete frame read was
			// delivered; a trailing partial frame is dropped, and reported lost if its
			// header named the sender (not when Stop closed it).
			if !r.stopping.Load() {
				r.cutOff(&gc.dec, &gc.in, gc.peer, gc.remote)
			}
			return
		}
	}
}

// decodeAndDeliver decodes every complete frame buffered and delivers them in order, in
// batches as the queue budget (receiver.queue, Config.MaxQueuedBytes) takes them. It
// reports false when the connection must close: an invalid or refused frame (after the
// frames before it were delivered), or a non-member's message, or the end of Stop's
// context (or the sweeper) while it waited for the budget.
func (gc *gconn) decodeAndDeliver() bool {
	for {
		more, ok := gc.decodeBatch()
		if !ok || !more {
			return ok
		}
	}
}

// decodeBatch decodes the complete frames buffered, as many as the queue budget takes,
// and delivers them; more reports that it stopped at the budget with frames left. With
// nothing decoded it waits for the budget to take the first frame, not reading meanwhile.
func (gc *gconn) decodeBatch() (more, ok bool) {
	r := gc.r
	var frames, nbytes int // taken into the queue budget: delivered (or dropped) now
	var got, gotBytes int  // decoded now (Stats.FramesReceived), whatever becomes of them
	var decErr error
	if gc.late.msg != nil { // its turn, the frames before it delivered
		it := gc.late
		gc.late = inItem{}
		if !gc.takeLarge(&it) {
			return false, false
		}
		gc.batch = append(gc.batch, it)
		frames++
		nbytes += it.size
	}
	for {
		// A large frame's remaining bytes are read straight into its buffer, a read that
		// blocks: only while nothing decoded waits for delivery.
		gc.dec.direct = nil
		if len(gc.batch) == 0 {
			gc.dec.direct = gc.direct
		}
		var taken int64
		if total, small := gc.nextFrame(); total > 0 {
			n := int64(total)
			fit := r.queue.fits(n) // a large frame may start
			if small {
				fit = r.queue.tryTake(n)
			}
			if !fit && len(gc.batch) > 0 {
				more = true
				break
			}
			if !fit {
				// No frame timeout while it waits: the frame is complete, or a large one
				// that has not started. Nor is a stranger's connection idle: its frame
				// counts as queued (receiver.idleStranger) until the wait ends, bounded by
				// the deliveries that make room, as a member's.
				gc.frameSince.Store(0)
				if !gc.waitQueue(n, small) {
					return false, false
				}
				gc.waited = true
			}
			if small {
				taken = n
			}
		}
		cd, n, ok, err := gc.dec.next(&gc.in)
		if taken > 0 && (err != nil || !ok) {
			r.queue.add(-taken)
		}
		if err != nil {
			decErr = err
			break
		}
		if !ok {
			break
		}
		if gc.frameSince.Load() != 0 {
			gc.frameSince.Store(0)
		}
		got++
		gotBytes += n
		from, counted := gc.dec.takeArrival()
		msg := r.message(&gc.dec, &cd)
		it := inItem{msg: msg, size: n, ack: ackModeOf(channel.SendOptions(cd.Options)),
			from: from, counted: counted, untrusted: !gc.dec.trusted.Load()}
		if taken == 0 { // a large frame, started once its size fitted, counted now it is complete
			if len(gc.batch) == 0 {
				// Received before it waits for room, as it may wait long, and be
				// dropped by Stop.
				gc.received(got, gotBytes)
				got, gotBytes = 0, 0
				if !gc.takeLarge(&it) {
					return false, false
				}
			} else {
				if largeBehindHook != nil {
					largeBehindHook(gc)
				}
				if !r.queue.tryTake(int64(n)) {
					gc.late, more = it, true // it waits for room once the batch is delivered
					break
				}
				gc.dec.releaseDone()
			}
		}
		gc.batch = append(gc.batch, it)
		frames++
		nbytes += n
	}
	gc.received(got, gotBytes)
	if frames > 0 {
		gc.untrackDecoded()
		ok := gc.deliverBatch()
		r.queue.add(-int64(nbytes))
		if !ok {
			return false, false
		}
	}
	if decErr != nil {
		gc.markExpired()
		r.reject(decErr, gc.peer, gc.remote)
		return false, false
	}
	return more, true
}

// received counts frames decoded in Stats.FramesReceived, as soon as they are decoded,
// delivered or not: a large frame waiting for MaxQueuedBytes room (and dropped if Stop ends
// the wait) is counted as EngineGnet counts a frame decoded and queued
// (TestGoroutineLargeFramesWithinTheQueueBudget, TestGoroutineLargeFrameWaitsBehindItsBatch).
func (gc *gconn) received(frames, nbytes int) {
	if frames > 0 {
		gc.r.st.framesReceived.Add(uint64(frames))
		gc.r.st.bytesReceived.Add(uint64(nbytes))
	}
}

// takeLarge takes a large frame decoded into MaxQueuedBytes, waiting for room if it does
// not fit (others took it since the frame started: TestGoroutineLargeFramesWithinTheQueueBudget),
// its bytes still counted in PendingBytes meanwhile; it then gives back that reservation.
// Once the end of Stop's context (or the sweeper) ends the wait, it drops the frame,
// unacknowledged, and reports false.
func (gc *gconn) takeLarge(it *inItem) bool {
	n := int64(it.size)
	if !gc.r.queue.tryTake(n) {
		if !gc.waitQueue(n, true) {
			gc.dropOnStop(it)
			gc.dec.releaseDone()
			return false
		}
		gc.waited = true
	}
	gc.dec.releaseDone()
	return true
}

// drop lets go of a decoded frame that will not be delivered.
func (gc *gconn) drop(it *inItem) {
	it.msg.Release() // never delivered: nothing holds its buffer
	gc.delivered(it)
}

// dropOnStop drops a decoded frame whose connection ends before its delivery: counted in
// Stats.FramesDroppedByStop if Stop's context ended (the sweeper may end it too).
func (gc *gconn) dropOnStop(it *inItem) {
	if gc.r.dropping.Load() {
		gc.r.st.framesDroppedByStop.Add(1)
	}
	gc.drop(it)
}

// deliverBatch delivers the decoded frames in order. USE_ACK frames without SYNC are
// acknowledged right before their delivery, a run of them with one write (a non-member's
// frame on a connection that carried no member's is a run of its own); with SYNC
// after it. A non-member's message ends the connection: the rest is dropped unacknowledged,
// but for the frames of the run already acknowledged, which are delivered. A frame asking
// for an ACK, not acknowledged yet, is dropped if its peer closed the connection while the
// batch waited for MaxQueuedBytes room (abandoned), or, with SYNC, while it waited for a
// Workers slot (receiver.deliver), or if the receiver closed the connection itself before
// its turn (the sweeper: unread ACKs, FrameTimeout), and so is every such frame after it
// in the batch (TestGoroutineAckFramesAfterAnAbandonedOneDropped,
// TestGoroutineAckFrameOfAConnectionTheReceiverClosedDropped): its sender gave up on it
// and may have sent it again, or its ACK can reach no one.
func (gc *gconn) deliverBatch() bool {
	r := gc.r
	stranger := false
	gone := false // a frame of the batch found its peer gone: so will the rest
	for i := range gc.batch {
		it := &gc.batch[i]
		if refused := stranger && !it.acked; refused || r.dropping.Load() {
			if !refused {
				r.st.framesDroppedByStop.Add(1)
			}
			it.msg.Release() // never delivered: nothing holds its buffer
			gc.delivered(it)
			continue
		}
		if it.ack != ackNone && !it.acked && (gone || gc.abandoned()) {
			gone = true
			r.st.framesAbandoned.Add(1)
			gc.drop(it)
			continue
		}
		if it.ack == ackBefore {
			// A non-member's frame on a connection that carried no member's is a run of
			// its own, and ends the run before it.
			run := len(ackRun) / len(wire.AckFrame)
			if it.untrusted {
				run = 1
			}
			k := 0
			for j := i; j < len(gc.batch) && gc.batch[j].ack == ackBefore && k < run; j++ {
				if j > i && gc.batch[j].untrusted {
					break
				}
				gc.batch[j].ack, gc.batch[j].acked = ackNone, j > i
				k++
			}
			if gc.write(ackRun[:k*len(wire.AckFrame)]) {
				r.st.acksSent.Add(uint64(k))
				r.st.ackWritten()
			}
		}
		err := r.deliverAcked(it.msg, it.ack, gc.writeAck, gc.gone)
		if errors.Is(err, channel.ErrNotMember) && !stranger {
			stranger = true
			gc.markExpired()
			r.countStranger(it.msg, gc.peer, gc.remote)
		}
		gone = gone || err == errAbandoned
		gc.delivered(it)
	}
	gc.batch = keptItems(gc.batch) // what a read of many small frames grew is not kept
	gc.waited = false
	return !stranger
}

// abandoned reports whether the receiver closed the connection itself (the sweeper:
// FrameTimeout, unread ACKs; expired), as EngineGnet drops a frame whose connection closed
// whichever end closed it (TestGoroutineAckFrameOfAConnectionTheReceiverClosedDropped), or
// the batch waited for MaxQueuedBytes room and the peer closed the connection since
// (rawSock.peerGone: Linux only). Once it did, that holds for the rest of the batch, which
// stays marked waited. Stop's close is neither: a graceful Stop delivers the batch.
func (gc *gconn) abandoned() bool { return gc.expired.Load() || gc.waited && gc.sock.peerGone() }

// delivered ends its delivery (or drop): a large frame no longer counts as arriving
// (Transport.Arriving), and the batch lets go of the message.
func (gc *gconn) delivered(it *inItem) {
	if it.counted {
		gc.r.arriving.add(it.from, -1)
	}
	gc.r.settled(&gc.dec)
	*it = inItem{}
}

// writeAck writes one ACK or FAIL_ACK frame and counts it in ctr.
func (gc *gconn) writeAck(frame []byte, ctr *atomic.Uint64) {
	if gc.write(frame) {
		ctr.Add(1)
	}
}

// write writes ACK frames to the peer. What the socket's send buffer does not take at
// once (the peer does not read) it writes waiting, with writeSince set and the read
// buffer given back (connBuf.giveBack; on Linux, where it can tell): the sweeper counts
// an ack pause when that wait lasts over a tick, and closes the connection after
// FrameTimeout. A write the socket takes at once never sets writeSince, so that a
// goroutine slow to make it (descheduled on a loaded machine) is not taken for a peer
// that does not read.
func (gc *gconn) write(b []byte) bool {
	if ackWriteHook != nil {
		ackWriteHook(gc)
	}
	if gc.sock.canTryWrite() {
		n, err := gc.sock.WriteNoWait(b)
		if err != nil {
			return false
		}
		if b = b[n:]; len(b) == 0 {
			return true
		}
		// The write waits for the peer to read, up to FrameTimeout: the read buffer is
		// given back meanwhile, or cut to the partial frame it holds, as while a read
		// waits (decoded messages own copies of their bytes).
		gc.in.giveBack()
		if ackWaitHook != nil {
			ackWaitHook(gc)
		}
	}
	gc.writeSince.Store(time.Now().UnixNano())
	_, err := gc.sock.Write(b)
	gc.writeSince.Store(0)
	return err == nil
}

// largeBehindHook, nil but in tests, runs on a connection's goroutine when a large frame
// completed behind frames decoded before it, before it takes its room in MaxQueuedBytes:
// a test has another connection take the room meanwhile, so that the frame waits behind
// the batch (gconn.late: TestGoroutineLargeFrameWaitsBehindItsBatch).
var largeBehindHook func(gc *gconn)

// ackWriteHook, nil but in tests, runs as a connection's goroutine begins an ACK write,
// before its first system call: a test holds the goroutine there across the sweeper's
// ticks, as a loaded machine's scheduler may (TestAckWriteHeldOverTicksIsNoPause).
var ackWriteHook func(gc *gconn)

// ackWaitHook, nil but in tests, runs on a connection's goroutine when an ACK write is
// about to wait for the peer to read (Linux): a test looks at the read buffer the wait
// holds (TestGoroutineBufferGivenBackWhileAnAckWriteWaits).
var ackWaitHook func(gc *gconn)

// readDirect is the decoder's direct read (decoder.direct): a blocking read of a large
// frame's remaining bytes into its buffer, under FrameTimeout like any partial frame; a
// raw system call on Linux, whatever its size (see rawSock).
func (gc *gconn) readDirect(p []byte) (int, error) {
	if gc.frameSince.Load() == 0 {
		gc.frameSince.Store(gc.np.now.Load())
	}
	return gc.sock.Read(p)
}

// trackPartial updates the connection's share of Stats.PendingBytes (the bytes of a
// partial small frame; large ones are reserved by the decoder) and of strangers' share,
// and starts the frame deadline when a partial frame waits. It returns the error that
// refuses the connection: a stranger's partial frame passes strangers' share
// (errStrangersOverBudget), or its bytes grew past MaxPendingBytes (errOverBudget: not
// counted, as a large frame that does not fit is refused).
func (gc *gconn) trackPartial() error {
	in := int64(gc.in.InboundBuffered())
	over := !gc.r.countBuffered(in, &gc.held)
	if (in > 0 || gc.dec.asm != nil) && gc.frameSince.Load() == 0 {
		gc.frameSince.Store(gc.np.now.Load())
	}
	switch {
	case !gc.dec.strangerHeld(&gc.in, &gc.strays):
		return errStrangersOverBudget
	case over:
		return errOverBudget
	}
	return nil
}

// untrackDecoded takes the frames just decoded out of the connection's share of
// Stats.PendingBytes (and of strangers' share) before they are delivered: a small frame
// that arrived in pieces, counted there while partial, counts in QueuedBytes now, not in
// both while its delivery lasts (TestSmallFrameInPiecesLeavesPendingBytesOnceQueued).
// Only what was decoded leaves: the shares fall to the bytes still buffered, and
// trackPartial counts what the next read brings.
func (gc *gconn) untrackDecoded() {
	in := int64(gc.in.InboundBuffered())
	if in < gc.held {
		gc.r.countBuffered(in, &gc.held)
	}
	if in < gc.strays {
		gc.dec.strangers.Add(in - gc.strays)
		gc.strays = in
	}
}

// waitQueue waits for n bytes of the queue budget (queueGate.wait). On a connection not
// trusted the frame waiting counts in dec.inflight meanwhile, as one queued, so that the
// sweeper does not take the connection for idle (receiver.idleStranger) and drop it.
func (gc *gconn) waitQueue(n int64, take bool) bool {
	if gc.dec.trusted.Load() { // trust comes only from this goroutine's vet
		return gc.r.queue.wait(n, take, gc.stop)
	}
	gc.dec.inflight.Add(1)
	ok := gc.r.queue.wait(n, take, gc.stop)
	gc.r.settled(&gc.dec) // its idle time counts from the end of the wait
	return ok
}

// stopWaiting reports whether a connection waiting for the queue budget must give up: Stop's
// context ended (receiver.dropping), or the sweeper closed it (both wake the waiting
// connections). A Stop whose context has not ended lets it wait: the deliveries before it
// make room, and its frame is delivered, as EngineGnet's workers deliver what is queued
// (TestGoroutineQueueWaiterDeliveredOnGracefulStop).
func (gc *gconn) stopWaiting() bool {
	if stopWaitHook != nil {
		stopWaitHook(gc)
	}
	return gc.r.dropping.Load() || gc.expired.Load()
}

// stopWaitHook, nil but in tests, runs as a connection waiting for the queue budget asks
// whether it must give up (TestGoroutineQueueWaiterDeliveredOnGracefulStop).
var stopWaitHook func(gc *gconn)

// markExpired marks the connection as closed for a counted reason, so that the sweeper
// does not count it again.
func (gc *gconn) markExpired() { gc.expired.Store(true) }

// expire closes the connection from the sweeper, once, counting it in ctr.
func (gc *gconn) expire(ctr *atomic.Uint64, kind, why string, after time.Duration) {
	if !gc.expired.CompareAndSwap(false, true) {
		return
	}
	ctr.Add(1)
	gc.r.plog.Log(slog.LevelWarn, gc.peer, kind, "tribes receiver closing a connection that "+why,
		"remote", gc.remote, "after", after)
	_ = gc.c.Close()
	gc.r.queue.wake()
}
