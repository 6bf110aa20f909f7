package nio

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/ratelog"
	"github.com/gotribes/tribes/wire"
)

// receiver is one running TCP receiver: a gnet engine, its connections and the worker
// pool. A Transport builds a new one on every Start. If the engine stops by itself (gnet
// stops it when accept fails with anything but a transient error, for example EMFILE), a
// supervisor restarts it on the same port.
type receiver struct {
	gnet.BuiltinEventEngine

	rx         channel.ReceiveFunc
	log        *slog.Logger
	plog       *ratelog.Limiter // what a peer can repeat at will: a few lines per peer and kind, then counts
	st         *counters
	pool       *workerPool
	report     func(error) // tells the channel about failures (non-nil) and recovery (nil)
	maxBody    int
	limit      int64 // MaxConnQueueBytes
	hardCap    int   // inbound bytes beyond which a connection is closed (only a paused one gets there)
	maxPending int64
	maxConns   int64
	maxOut     int
	firstFrame time.Duration // FirstFrameTimeout, <= 0 off
	frameTime  time.Duration // FrameTimeout, <= 0 off
	stopping   atomic.Bool
	dropping   atomic.Bool // Stop's context ended: skip what is still queued

	cmu   sync.Mutex // guards conns
	conns map[*rconn]struct{}

	emu     sync.Mutex // guards the engine fields below and serialises boot and shutdown
	addr    string     // gnet's address, with the bound port once known
	opts    []gnet.Option
	eng     gnet.Engine
	port    int // bound by the engine started last
	portErr error
	booted  chan struct{}
	runErr  chan error // gnet.Run's result, for the engine started last
	running bool
	quit    chan struct{} // closed by shutdown
	done    chan struct{} // closed when the supervisor exits
}

func newReceiver(cfg *Config, st *counters, rx channel.ReceiveFunc, report func(error)) *receiver {
	return &receiver{
		rx:         rx,
		log:        cfg.Logger,
		plog:       ratelog.New(ratelog.Config{Logger: cfg.Logger}),
		st:         st,
		report:     report,
		maxBody:    cfg.MaxFrameSize,
		limit:      int64(cfg.MaxConnQueueBytes),
		hardCap:    cfg.MaxConnQueueBytes + readBufferCap,
		maxPending: int64(cfg.MaxPendingBytes),
		maxConns:   int64(cfg.MaxConnections),
		maxOut:     cfg.MaxConnOutboundBytes,
		firstFrame: cfg.FirstFrameTimeout,
		frameTime:  cfg.FrameTimeout,
		conns:      make(map[*rconn]struct{}),
		quit:       make(chan struct{}),
		done:       make(chan struct{}),
	}
}

// errShutdown ends a boot attempt that Stop overtook.
var errShutdown = errors.New("nio: receiver stopping")

// boot runs gnet on addr and waits until it listens or failed.
func (r *receiver) boot(addr string) error {
	r.emu.Lock()
	defer r.emu.Unlock()
	if r.stopping.Load() {
		return errShutdown
	}
	r.booted, r.runErr = make(chan struct{}), make(chan error, 1)
	go func(runErr chan error) { runErr <- gnet.Run(r, addr, r.opts...) }(r.runErr)
	select {
	case <-r.booted:
		r.addr, r.running = addr, true
		return nil
	case err := <-r.runErr:
		if err == nil {
			err = errors.New("gnet engine exited before booting")
		}
		return err
	}
}

// Restart back-off bounds: a receiver whose engine stopped tries to listen again after
// restartMin, doubling up to restartMax while it fails (descriptors still exhausted).
const (
	restartMin = 20 * time.Millisecond
	restartMax = 2 * time.Second
)

// supervise waits for the engine to stop. Unless Stop asked for it, that is a failure: it
// is counted, logged and reported to the channel, and the engine is restarted on the same
// address, backing off while listening fails (descriptors still exhausted) or the
// restarted engine soon stops again, until it listens again or Stop.
func (r *receiver) supervise() {
	defer close(r.done)
	wait := restartMin
	for {
		r.emu.Lock()
		runErr := r.runErr
		r.emu.Unlock()
		up := time.Now()
		err := <-runErr
		r.emu.Lock()
		r.running = false
		addr := r.addr
		r.emu.Unlock()
		if r.stopping.Load() {
			return
		}
		if err == nil {
			err = errors.New("gnet engine stopped (see its logged accept error)")
		}
		err = fmt.Errorf("%w: nio receiver on %s stopped: %w", channel.ErrReceiverFailed, addr, err)
		r.st.receiverFailures.Add(1)
		r.log.Error("tribes nio receiver stopped by itself; restarting it", "err", err, "retry_in", wait)
		r.report(err)
		if time.Since(up) > restartMax {
			wait = restartMin
		}
		if !r.restart(addr, &wait) {
			return
		}
		r.st.receiverRestarts.Add(1)
		r.log.Warn("tribes nio receiver listening again", "addr", addr)
		r.report(nil)
	}
}

// restart boots the engine on addr after *wait, doubling *wait after each failure.
func (r *receiver) restart(addr string, wait *time.Duration) bool {
	t := time.NewTimer(*wait)
	defer t.Stop()
	for {
		select {
		case <-r.quit:
			return false
		case <-t.C:
		}
		err := r.boot(addr)
		*wait = min(2**wait, restartMax)
		if err == nil {
			return true
		}
		if r.stopping.Load() {
			return false
		}
		r.log.Warn("tribes nio receiver cannot listen again yet", "addr", addr, "err", err, "retry_in", *wait)
		t.Reset(*wait)
	}
}

// shutdown stops the engine for good and waits for the supervisor to return.
func (r *receiver) shutdown() {
	r.stopping.Store(true)
	close(r.quit)
	r.emu.Lock()
	if r.running {
		// Engine.Stop polls every 500 ms; a cancelled context makes it only trigger the
		// shutdown, and gnet.Run's return (seen by the supervisor) is the completion signal.
		cctx, cancel := context.WithCancel(context.Background())
		cancel()
		_ = r.eng.Stop(cctx)
	}
	r.emu.Unlock()
	<-r.done
}

// OnBoot runs once the listener is bound: the engine is ready. The bound port is read
// here, on the engine's goroutine, because gnet's Dup races with the engine's shutdown.
func (r *receiver) OnBoot(eng gnet.Engine) gnet.Action {
	r.eng = eng
	r.port, r.portErr = enginePort(eng)
	close(r.booted)
	return gnet.None
}

func (r *receiver) OnOpen(c gnet.Conn) ([]byte, gnet.Action) {
	r.st.connsAccepted.Add(1)
	if r.st.connsOpen.Add(1) > r.maxConns {
		r.st.connsRefused.Add(1)
		r.plog.Log(slog.LevelWarn, peerOf(c), "max-connections",
			"tribes nio receiver refusing a connection: MaxConnections are open", "remote", remote(c), "max", r.maxConns)
		return nil, gnet.Close
	}
	rc := &rconn{r: r, c: c, dec: decoder{maxBody: r.maxBody, pending: &r.st.pendingBytes, limit: r.maxPending},
		opened: time.Now(), remote: remote(c), peer: peerOf(c)}
	rc.ackDone = rc.onAckWritten
	c.SetContext(rc)
	r.cmu.Lock()
	r.conns[rc] = struct{}{}
	r.cmu.Unlock()
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
		r.cmu.Lock()
		delete(r.conns, rc)
		r.cmu.Unlock()
		rc.onClose(err)
	}
	r.st.connsOpen.Add(-1)
	return gnet.None
}

// tickEvery is how often OnTick checks the connections' deadlines and stalled writers.
func (r *receiver) tickEvery() time.Duration {
	d := time.Second
	for _, t := range []time.Duration{r.firstFrame, r.frameTime} {
		if t > 0 {
			d = min(d, t/4)
		}
	}
	return max(d, 10*time.Millisecond)
}

// OnTick closes connections past FirstFrameTimeout or FrameTimeout, closes those whose
// peer has not read its ACKs for FrameTimeout, and wakes the others paused on unread ACKs
// so that they resume once the peer reads. It runs on gnet's ticker goroutine.
func (r *receiver) OnTick() (time.Duration, gnet.Action) {
	now := time.Now().UnixNano()
	r.cmu.Lock()
	conns := make([]*rconn, 0, len(r.conns))
	for rc := range r.conns {
		conns = append(conns, rc)
	}
	r.cmu.Unlock()
	for _, rc := range conns {
		switch {
		case r.firstFrame > 0 && !rc.started.Load() && now-rc.opened.UnixNano() > int64(r.firstFrame):
			rc.expire(&r.st.connsTimedOut, "first-frame-timeout", "sent nothing within FirstFrameTimeout", r.firstFrame)
		case r.frameTime > 0 && since(rc.frameSince.Load(), now) > r.frameTime:
			rc.expire(&r.st.connsTimedOut, "frame-timeout", "did not complete a frame within FrameTimeout", r.frameTime)
		case r.frameTime > 0 && since(rc.outSince.Load(), now) > r.frameTime:
			rc.expire(&r.st.connsStalled, "acks-unread", "did not read its ACKs within FrameTimeout", r.frameTime)
		case rc.outSince.Load() != 0:
			rc.gnetCall(func() { _ = rc.c.Wake(nil) })
		}
	}
	return r.tickEvery(), gnet.None
}

// since returns how long ago the unix-nano time t was, or 0 for t == 0.
func since(t, now int64) time.Duration {
	if t == 0 {
		return 0
	}
	return time.Duration(now - t)
}

// deliver hands one message to the ReceiveFunc. A panic is reported like an error, so that
// a synchronized-ack sender gets a FAIL_ACK instead of the node crashing.
func (r *receiver) deliver(msg *channel.Message) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("nio: receive function panicked: %v", p)
			r.plog.Log(slog.LevelError, msg.Source.Addr(), "panic", "tribes receive function panicked",
				"panic", p, "source", msg.Source.String())
		}
		if err != nil {
			r.st.deliveryErrors.Add(1)
		}
	}()
	r.st.delivered.Add(1)
	return r.rx(msg)
}

// deliverAcked delivers msg and answers it as mode says (spec 5.2), on TCP and UDP alike:
// ack writes one ACK or FAIL_ACK frame and counts it in ctr. It returns the delivery's
// error.
func (r *receiver) deliverAcked(msg *channel.Message, mode ackMode, ack func(frame []byte, ctr *atomic.Uint64)) error {
	if mode == ackBefore {
		ack(wire.AckFrame, &r.st.acksSent)
	}
	err := r.deliver(msg)
	if mode != ackAfter {
		return err
	}
	if err == nil {
		ack(wire.AckFrame, &r.st.acksSent)
	} else {
		ack(wire.FailAckFrame, &r.st.failAcksSent)
	}
	return err
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

	opened time.Time // immutable
	remote string    // immutable, for logs
	peer   string    // immutable: the remote IP, the key of rate-limited logs

	// Read by OnTick, written by the loop: deadlines.
	started    atomic.Bool  // a byte arrived
	frameSince atomic.Int64 // unix ns since a partial frame waits (reset by each complete frame); 0 none
	outSince   atomic.Int64 // unix ns since decoding waits for the peer to read its ACKs; 0 none

	// Owned by the connection's event loop.
	inHeld      int64 // inbound bytes counted in Stats.PendingBytes
	pendingAcks int   // ACKs handed to a worker and not yet written
	batch       []inItem
	batchBytes  int
	dead        bool // a protocol error closed the connection
	ackDone     gnet.AsyncCallback

	// Owned by the worker that runs the connection's queue.
	stranger bool // the channel refused a message from a non-member: the rest is skipped

	// Shared between the loop and workers.
	cmu     sync.Mutex // held by workers and OnTick around gnet calls, and by onClose
	closed  bool       // under cmu: onClose ran, gnet must not be called any more
	expired bool       // under cmu: OnTick closed it

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
	if !rc.started.Load() && rc.c.InboundBuffered() > 0 {
		rc.started.Store(true)
	}
	var frames, nbytes, early int
	held := false // decoding stopped by the receiver's own limits, not by a partial frame
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
	rc.track(frames > 0, held)
	if act != gnet.None {
		return act
	}
	switch {
	case rc.c.InboundBuffered() > rc.r.hardCap:
		rc.dead = true
		rc.r.st.connsOverflowed.Add(1)
		rc.r.plog.Log(slog.LevelError, rc.peer, "overflow", "tribes receiver closing a connection that buffers too much",
			"remote", rc.remote, "buffered", rc.c.InboundBuffered(), "limit", rc.r.hardCap)
		return gnet.Close
	case rc.inHeld > largeFrame && rc.r.st.pendingBytes.Load()+rc.r.st.queuedBytes.Load() > rc.r.maxPending:
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
// and the start of the partial frame it waits for. A frame that completes resets the
// frame deadline; bytes held back by the receiver's own limits do not start it.
func (rc *rconn) track(progress, held bool) {
	in := int64(rc.c.InboundBuffered())
	if d := in - rc.inHeld; d != 0 {
		rc.r.st.pendingBytes.Add(d)
		rc.inHeld = in
	}
	if progress || held {
		if rc.frameSince.Load() != 0 {
			rc.frameSince.Store(0)
		}
	}
	if !held && (in > 0 || rc.dec.asm != nil) && rc.frameSince.Load() == 0 {
		rc.frameSince.Store(time.Now().UnixNano())
	}
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
	if errors.Is(err, errOverBudget) {
		rc.r.st.framesRefused.Add(1)
		rc.r.plog.Log(slog.LevelWarn, rc.peer, "over-budget", "tribes receiver closing a connection: no budget for its frame",
			"remote", rc.remote, "pending", rc.r.st.pendingBytes.Load(), "max", rc.r.maxPending)
		return
	}
	rc.r.st.framesRejected.Add(1)
	rc.r.plog.Log(slog.LevelError, rc.peer, "invalid-frame", "tribes receiver closing connection after an invalid frame",
		"remote", rc.remote, "err", err)
}

// onClose runs on the loop when the connection closes. Complete frames still buffered
// (because decoding was paused) are processed as Java does at EOF; ACKs are no longer
// possible. A trailing partial frame is dropped.
func (rc *rconn) onClose(error) {
	rc.cmu.Lock()
	rc.closed = true
	rc.cmu.Unlock()
	rc.r.st.pendingBytes.Add(-rc.inHeld)
	rc.inHeld = 0
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

// process delivers one message. When the channel refuses it as a non-member's
// (channel.ErrNotMember, after the FAIL_ACK a synchronized-ack sender gets), the connection
// is closed and what it still has queued is dropped: a stranger flooding valid frames gets
// one message per connection to the workers, not a share of them equal to a member's.
func (rc *rconn) process(it *inItem) {
	r := rc.r
	if r.dropping.Load() || rc.stranger {
		return
	}
	if err := r.deliverAcked(it.msg, it.ack, rc.writeAck); errors.Is(err, channel.ErrNotMember) {
		rc.stranger = true
		r.st.connsNonMember.Add(1)
		r.plog.Log(slog.LevelWarn, rc.peer, "non-member", "tribes receiver closing a connection that carried a non-member's message",
			"remote", rc.remote, "source", it.msg.Source.String())
		rc.gnetCall(func() { _ = rc.c.Close() })
	}
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

// peerOf returns the remote IP, which identifies a peer across its connections (each has
// its own port); call it on the connection's loop only.
func peerOf(c gnet.Conn) string {
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		return a.IP.String()
	}
	return remote(c)
}

// remote returns the peer address for logs; call it on the connection's loop only.
func remote(c gnet.Conn) string {
	if a := c.RemoteAddr(); a != nil {
		return a.String()
	}
	return "?"
}
