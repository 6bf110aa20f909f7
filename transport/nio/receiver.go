package nio

import (
	"bytes"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/panjf2000/gnet/v2"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/wire"
)

// receiver is one running TCP receiver: a gnet engine, its connections and the worker
// pool. A Transport builds a new one on every Start.
type receiver struct {
	gnet.BuiltinEventEngine

	rx       channel.ReceiveFunc
	log      *slog.Logger
	st       *counters
	pool     *workerPool
	maxBody  int
	limit    int64 // MaxConnQueueBytes
	hardCap  int   // inbound bytes beyond which a connection is closed
	stopping atomic.Bool
	dropping atomic.Bool  // Stop's context ended: skip what is still queued
	budget   atomic.Int64 // speculative allocation budget for large frames

	// Set for each bind attempt, before gnet.Run.
	eng    gnet.Engine
	booted chan struct{}
	runErr chan error
}

func newReceiver(cfg *Config, st *counters, rx channel.ReceiveFunc) *receiver {
	r := &receiver{
		rx:      rx,
		log:     cfg.Logger,
		st:      st,
		maxBody: cfg.MaxFrameSize,
		limit:   int64(cfg.MaxConnQueueBytes),
		hardCap: 2*wire.FrameLen(cfg.MaxFrameSize) + cfg.MaxConnQueueBytes,
	}
	r.budget.Store(DefaultSpeculativeBudget)
	return r
}

// OnBoot runs once the listener is bound: the engine is ready.
func (r *receiver) OnBoot(eng gnet.Engine) gnet.Action {
	r.eng = eng
	close(r.booted)
	return gnet.None
}

func (r *receiver) OnOpen(c gnet.Conn) ([]byte, gnet.Action) {
	rc := &rconn{r: r, c: c, dec: decoder{maxBody: r.maxBody, budget: &r.budget}}
	rc.ackDone = rc.onAckWritten
	c.SetContext(rc)
	r.st.connsAccepted.Add(1)
	r.st.connsOpen.Add(1)
	return nil, gnet.None
}

func (r *receiver) OnTraffic(c gnet.Conn) gnet.Action {
	rc, ok := c.Context().(*rconn)
	if !ok {
		return gnet.Close
	}
	return rc.onTraffic()
}

func (r *receiver) OnClose(c gnet.Conn, err error) gnet.Action {
	if rc, ok := c.Context().(*rconn); ok {
		rc.onClose(err)
	}
	r.st.connsOpen.Add(-1)
	return gnet.None
}

// deliver hands one message to the ReceiveFunc. A panic is reported like an error, so that
// a synchronized-ack sender gets a FAIL_ACK instead of the node crashing.
func (r *receiver) deliver(msg *channel.Message) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("nio: receive function panicked: %v", p)
			r.log.Error("tribes receive function panicked", "panic", p, "source", msg.Source.String())
		}
		if err != nil {
			r.st.deliveryErrors.Add(1)
		}
	}()
	r.st.delivered.Add(1)
	return r.rx(msg)
}

// deliverAcked delivers msg and answers it as mode says (spec 5.2), on TCP and UDP alike:
// ack writes one ACK or FAIL_ACK frame and counts it in ctr.
func (r *receiver) deliverAcked(msg *channel.Message, mode ackMode, ack func(frame []byte, ctr *atomic.Uint64)) {
	if mode == ackBefore {
		ack(wire.AckFrame, &r.st.acksSent)
	}
	err := r.deliver(msg)
	if mode != ackAfter {
		return
	}
	if err == nil {
		ack(wire.AckFrame, &r.st.acksSent)
	} else {
		ack(wire.FailAckFrame, &r.st.failAcksSent)
	}
}

// inItem is one decoded message waiting for a worker.
type inItem struct {
	msg  *channel.Message
	size int // frame bytes, for the queue bound
	ack  ackMode
}

// rconn is the receiver's state for one inbound connection.
//
// The event loop decodes frames and queues them; a worker takes the whole queue at once and
// processes it in order. ACKs that may be written at decode time (USE_ACK without SYNC, and
// nothing still waiting to be acknowledged by a worker) are written by the loop itself; all
// others by the worker through AsyncWrite, whose callback runs on the loop, so the loop
// always knows whether an ACK is still in flight and ACKs leave in frame order.
type rconn struct {
	r   *receiver
	c   gnet.Conn
	dec decoder

	// Owned by the connection's event loop.
	pendingAcks int // ACKs handed to a worker and not yet written
	batch       []inItem
	batchBytes  int
	dead        bool // a protocol error closed the connection
	ackDone     gnet.AsyncCallback

	// Shared between the loop and workers.
	cmu    sync.Mutex // held by workers around gnet calls, and by onClose
	closed bool       // under cmu: onClose ran, gnet must not be called any more

	mu        sync.Mutex
	q         []inItem
	spare     []inItem
	scheduled bool         // a worker owns or will own the queue
	paused    bool         // decoding stopped because queued >= limit
	queued    atomic.Int64 // bytes in q or being processed; written under mu
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
	var frames, nbytes, early int
	act := gnet.None
	for {
		if rc.queued.Load()+int64(rc.batchBytes) >= rc.r.limit && rc.pause() {
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
		frames++
		nbytes += n
		mode := ackModeOf(channel.SendOptions(cd.Options))
		switch {
		case mode == ackBefore && rc.pendingAcks == 0:
			early++ // written below, before anything a worker could write
			mode = ackNone
		case mode != ackNone:
			rc.pendingAcks++
		}
		rc.batch = append(rc.batch, inItem{msg: channel.MessageFromChannelData(&cd), size: n, ack: mode})
		rc.batchBytes += n
	}
	if frames > 0 {
		rc.r.st.framesReceived.Add(uint64(frames))
		rc.r.st.bytesReceived.Add(uint64(nbytes))
	}
	rc.writeEarlyAcks(early)
	rc.flush()
	if act == gnet.None && rc.c.InboundBuffered() > rc.r.hardCap {
		rc.dead = true
		rc.r.st.connsOverflowed.Add(1)
		rc.r.log.Error("tribes receiver closing a connection that buffers too much",
			"remote", remote(rc.c), "buffered", rc.c.InboundBuffered(), "limit", rc.r.hardCap)
		act = gnet.Close
	}
	return act
}

// pause stops decoding when the connection's queue is at its limit. It decides under the
// lock the workers take to shrink the queue, so a worker that drains it afterwards sees
// paused and wakes the loop. The batch decoded so far is queued with it.
func (rc *rconn) pause() bool {
	rc.mu.Lock()
	if rc.queued.Load()+int64(rc.batchBytes) < rc.r.limit {
		rc.mu.Unlock()
		return false
	}
	was := rc.paused
	rc.paused = true
	rc.enqueueLocked()
	rc.mu.Unlock()
	if !was {
		rc.r.st.readPauses.Add(1)
	}
	return true
}

func (rc *rconn) writeEarlyAcks(n int) {
	if n == 0 {
		return
	}
	rc.r.st.acksSent.Add(uint64(n))
	for n > 0 {
		k := min(n, len(ackRun)/len(wire.AckFrame))
		if _, err := rc.c.Write(ackRun[:k*len(wire.AckFrame)]); err != nil {
			return
		}
		n -= k
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
		rc.batch = rc.batch[:0]
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
	rc.r.st.framesRejected.Add(1)
	rc.r.log.Error("tribes receiver closing connection after an invalid frame",
		"remote", remote(rc.c), "err", err)
}

// onClose runs on the loop when the connection closes. Complete frames still buffered
// (because decoding was paused) are processed as Java does at EOF; ACKs are no longer
// possible. A trailing partial frame is dropped.
func (rc *rconn) onClose(error) {
	rc.cmu.Lock()
	rc.closed = true
	rc.cmu.Unlock()
	defer rc.dec.abandon()
	if rc.dead || rc.r.stopping.Load() {
		return
	}
	for {
		cd, n, ok, err := rc.dec.next(rc.c)
		if err != nil || !ok {
			break
		}
		rc.r.st.framesReceived.Add(1)
		rc.r.st.bytesReceived.Add(uint64(n))
		rc.batch = append(rc.batch, inItem{msg: channel.MessageFromChannelData(&cd), size: n})
		rc.batchBytes += n
	}
	rc.flush()
}

// onAckWritten runs on the loop after a worker's ACK was written (or failed).
func (rc *rconn) onAckWritten(gnet.Conn, error) error {
	rc.pendingAcks--
	return nil
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
		rc.spare = batch[:0]
	}
	rc.queued.Add(-int64(done))
	rc.r.st.queuedBytes.Add(-int64(done))
	wake := rc.paused && rc.queued.Load() < rc.r.limit
	if wake {
		rc.paused = false
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

func (rc *rconn) process(it *inItem) {
	r := rc.r
	if r.dropping.Load() {
		return
	}
	r.deliverAcked(it.msg, it.ack, rc.writeAck)
}

func (rc *rconn) writeAck(frame []byte, ctr *atomic.Uint64) {
	// AckFrame and FailAckFrame are immutable package-level slices, so AsyncWrite may keep
	// them as long as it likes.
	rc.gnetCall(func() {
		if err := rc.c.AsyncWrite(frame, rc.ackDone); err == nil {
			ctr.Add(1)
		}
	})
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

// remote returns the peer address for logs; call it on the connection's loop only.
func remote(c gnet.Conn) string {
	if a := c.RemoteAddr(); a != nil {
		return a.String()
	}
	return "?"
}
