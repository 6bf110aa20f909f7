package nio

import (
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

	rx   channel.ReceiveFunc
	log  *slog.Logger
	plog *ratelog.Limiter // what a peer can repeat at will: a few lines per peer and kind, then counts
	st   *counters
	// rxBuf, txBuf: Config.RxBufSize and TxBufSize; bufsRead: the socket buffers of an
	// accepted connection were read back (EngineGnet: once, on the first).
	rxBuf, txBuf int
	bufsRead     atomic.Bool
	arriving     *arrivals // large frames being assembled, per sender (Transport.Arriving)
	pool         *workerPool
	report       func(error) // tells the channel about failures (non-nil) and recovery (nil)
	lost         func(channel.LostMessage)
	maxBody      int
	limit        int64 // MaxConnQueueBytes
	hardCap      int   // inbound bytes beyond which a connection is closed (only a paused one gets there)
	maxPending   int64
	maxStrange   int64 // MaxUntrustedPendingBytes
	maxConns     int64
	maxOut       int
	inline       bool                       // DeliverOnEventLoop
	bufs         *bufPool                   // released large-frame buffers; nil: none kept
	isMember     func(*channel.Member) bool // the channel's sender check (Transport.SetSenderCheck); nil: none
	firstFrame   time.Duration              // FirstFrameTimeout, <= 0 off
	frameTime    time.Duration              // FrameTimeout, <= 0 off
	stopping     atomic.Bool
	dropping     atomic.Bool // Stop's context ended: skip what is still queued

	// EngineGoroutine: np serves the connections instead of gnet, and slots (Workers of
	// them) bounds the ReceiveFuncs running at once. Both nil with gnet.
	np    *netpoll
	slots chan struct{}
	queue *queueGate // EngineGoroutine: MaxQueuedBytes of decoded frames waiting for slots

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
	// done is closed once the engine ended: gnet's supervisor exited (gnet.Run returned,
	// every connection's OnClose ran), or every goroutine of the goroutine engine ended.
	done chan struct{}

	udp   *udpReceiver  // nil without Config.UDP
	ended chan struct{} // closed by finish once the engine, the UDP loop and the workers ended
}

// plogNow, nil (time.Now) but in tests, is the clock of the receiver's rate-limited log.
var plogNow func() time.Time

func newReceiver(cfg *Config, st *counters, rx channel.ReceiveFunc, report func(error), lost func(channel.LostMessage)) *receiver {
	return &receiver{
		rx:         rx,
		lost:       lost,
		log:        cfg.Logger,
		plog:       ratelog.New(ratelog.Config{Logger: cfg.Logger, Now: plogNow}),
		st:         st,
		rxBuf:      cfg.RxBufSize,
		txBuf:      cfg.TxBufSize,
		report:     report,
		maxBody:    cfg.MaxFrameSize,
		limit:      int64(cfg.MaxConnQueueBytes),
		hardCap:    cfg.MaxConnQueueBytes + readBufferCap,
		maxPending: int64(cfg.MaxPendingBytes),
		maxStrange: int64(cfg.MaxUntrustedPendingBytes),
		bufs:       newBufPool(cfg.MaxPooledBytes),
		maxConns:   int64(cfg.MaxConnections),
		queue:      newQueueGate(st, cfg.MaxQueuedBytes),
		maxOut:     cfg.MaxConnOutboundBytes,
		inline:     cfg.DeliverOnEventLoop,
		firstFrame: cfg.FirstFrameTimeout,
		frameTime:  cfg.FrameTimeout,
		conns:      make(map[*rconn]struct{}),
		quit:       make(chan struct{}),
		done:       make(chan struct{}),
		ended:      make(chan struct{}),
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
		// A stranger churning connections at RLIMIT_NOFILE stops the engine at will: the
		// lines of each stop are rate-limited as EngineGoroutine's exhaustion runs are. A
		// stop whose line was written has its restart written too (logged), so that the
		// last line logged never says the receiver is down after it listens again.
		logged := r.plog.Log(slog.LevelError, addr, "engine-stopped",
			"tribes nio receiver stopped by itself; restarting it", "err", err, "retry_in", wait)
		r.report(err)
		if time.Since(up) > restartMax {
			wait = restartMin
		}
		if !r.restart(addr, &wait, logged) {
			return
		}
		r.st.receiverRestarts.Add(1)
		if logged {
			r.log.Warn("tribes nio receiver listening again", "addr", addr,
				"failures", r.st.receiverFailures.Load(), "restarts", r.st.receiverRestarts.Load())
		} else {
			// Its stop's line was counted, not written: so is this one, as its failures
			// to listen again are (restart).
			r.plog.Count(slog.LevelWarn, addr, "engine-restarted")
		}
		r.report(nil)
	}
}

// restartBootErr, nil but in tests, fails a restart's boot with its error (non-nil) before
// gnet is run: listening cannot be made to fail on demand.
var restartBootErr func() error

// restart boots the engine on addr after *wait, doubling *wait after each failure. Its
// failures are logged (rate-limited) only when the stop was (logged): a failure to
// listen again is part of that stop, whose restart line then follows. Those of a stop not
// logged are counted in the limiter, so that their count is written with the stops'.
func (r *receiver) restart(addr string, wait *time.Duration, logged bool) bool {
	t := time.NewTimer(*wait)
	defer t.Stop()
	for {
		select {
		case <-r.quit:
			return false
		case <-t.C:
		}
		var err error
		if restartBootErr != nil {
			err = restartBootErr()
		}
		if err == nil {
			err = r.boot(addr)
		}
		*wait = min(2**wait, restartMax)
		if err == nil {
			return true
		}
		if r.stopping.Load() {
			return false
		}
		if logged {
			r.plog.Log(slog.LevelWarn, addr, "engine-restart-failed",
				"tribes nio receiver cannot listen again yet", "err", err, "retry_in", *wait)
		} else {
			// Its stop's line was counted, not written: this one is counted too, its
			// count written with theirs (at Stop, or when it recurs a minute on).
			r.plog.Count(slog.LevelWarn, addr, "engine-restart-failed")
		}
		t.Reset(*wait)
	}
}

// shutdown begins to stop the engine for good: gnet's engine is told to stop, the
// goroutine engine's listener and connections are closed. done is closed once the engine
// ended: a ReceiveFunc running on an event loop (DeliverOnEventLoop) or on a connection's
// goroutine (EngineGoroutine) holds it until it returns, and gnet's event loops may be
// slow to close their connections (a loaded machine).
func (r *receiver) shutdown() {
	r.stopping.Store(true)
	close(r.quit)
	if r.np != nil {
		r.np.shutdown()
		return
	}
	r.emu.Lock()
	defer r.emu.Unlock()
	if r.running {
		// Engine.Stop polls every 500 ms; a cancelled context makes it only trigger the
		// shutdown, and gnet.Run's return (seen by the supervisor) is the completion signal.
		cctx, cancel := context.WithCancel(context.Background())
		cancel()
		_ = r.eng.Stop(cctx)
	}
}

// finish, on a goroutine of its own once shutdown began, ends the rest of the receiver
// in order and then closes ended: once the engine ended (nothing decodes any more) the
// UDP loop is closed and waited for, and the worker pool is closed, its workers finishing
// what is queued (or dropping it, once a Stop's context ended: dropping) and exiting. The
// pool is closed only once the engine ended: closed earlier, its workers would exit as
// soon as they had nothing queued while the event loops still decoded frames and queued
// them for no one, their bytes counted in Stats.QueuedBytes for ever
// (TestGnetFrameDecodedAfterStopGaveUpReleased). EngineGoroutine's pool has no workers.
func (r *receiver) finish() {
	<-r.done
	if u := r.udp; u != nil {
		_ = u.conn.Close()
		<-u.done
	}
	r.plog.Flush()
	<-r.pool.close()
	close(r.ended)
}

// wait waits for finish to close ended, or for ctx to end: it then returns an error
// wrapping ctx.Err() that names what still runs.
func (r *receiver) wait(ctx context.Context) error {
	select {
	case <-r.ended:
		return nil
	case <-ctx.Done():
		if isClosed(r.ended) {
			return nil
		}
		return fmt.Errorf("nio: receiver still stopping when the context ended, %s; it ends in the background: %w",
			r.stillRunning(), ctx.Err())
	}
}

// stillRunning says which part of a stopping receiver has not ended yet, and what may
// hold it.
func (r *receiver) stillRunning() string {
	switch {
	case !isClosed(r.done) && r.np != nil:
		return "its connections' goroutines still running (closing, or a ReceiveFunc delivering on one)"
	case !isClosed(r.done) && r.inline:
		return "gnet's engine still running (its event loops closing their connections, or one held by a ReceiveFunc delivering on it)"
	case !isClosed(r.done):
		return "gnet's engine still running (its event loops closing their connections)"
	case r.udp != nil && !isClosed(r.udp.done):
		return "its UDP loop still running (a ReceiveFunc delivering a datagram)"
	}
	return "its workers still busy (a ReceiveFunc delivering, or messages still queued)"
}

// isClosed reports whether done is closed. Shutdowns check it once their context ended:
// select picks at random among ready cases, and a cancelled context must not hide a
// shutdown that completed.
func isClosed(done <-chan struct{}) bool {
	select {
	case <-done:
		return true
	default:
		return false
	}
}

// OnBoot runs once the listener is bound: the engine is ready. The bound port is read
// here, on the engine's goroutine, because gnet's Dup races with the engine's shutdown.
func (r *receiver) OnBoot(eng gnet.Engine) gnet.Action {
	r.eng = eng
	r.port, r.portErr = enginePort(eng)
	close(r.booted)
	return gnet.None
}

// OnShutdown runs on gnet's engine goroutine as the engine begins to stop, its event
// loops still serving their connections.
func (r *receiver) OnShutdown(gnet.Engine) {
	if engineShutdownHook != nil {
		engineShutdownHook()
	}
}

// engineShutdownHook, nil but in tests, runs as gnet's engine begins to stop (OnShutdown):
// a hook that blocks keeps the event loops decoding after Stop gave up waiting for them.
var engineShutdownHook func()

func (r *receiver) OnOpen(c gnet.Conn) ([]byte, gnet.Action) {
	r.st.connsAccepted.Add(1)
	if r.st.connsOpen.Add(1) > r.maxConns {
		r.st.connsRefused.Add(1)
		r.plog.Log(slog.LevelWarn, peerOf(c), "max-connections",
			"tribes nio receiver refusing a connection: MaxConnections are open", "remote", remote(c), "max", r.maxConns)
		return nil, gnet.Close
	}
	rc := &rconn{r: r, c: c, dec: r.newDecoder(),
		fd: c.Fd(), opened: time.Now(), remote: remote(c), peer: peerOf(c), drained: make(chan struct{}, 1)}
	if !r.bufsRead.Swap(true) {
		rcv, snd, err := socketBuffers(uintptr(rc.fd))
		r.st.rxBufs.note(r.log, "receiver", r.rxBuf, r.txBuf, rcv, snd, err)
	}
	rc.ackDone = rc.onAckWritten
	rc.dec.direct = rc.readSocket
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
		case r.idleStranger(&rc.dec, rc.frameSince.Load(), now):
			rc.expire(&r.st.connsNonMember, "non-member-idle", "carried no member's frame and was idle for FirstFrameTimeout", r.firstFrame)
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

// lose counts a frame dropped after its header named the sender and tells the channel.
func (r *receiver) lose(l *lostFrame) {
	r.st.framesLost.Add(1)
	r.lost(channel.LostMessage{Source: l.source.Address, Size: l.size, Err: l.err})
}

// errDropped is deliver's error for a message it did not hand to the ReceiveFunc because
// Stop's context ended (receiver.dropping) before the message's turn: it gets no answer.
var errDropped = errors.New("nio: message dropped: the receiver stopped")

// errAbandoned is deliver's error for a synchronized-ack message it did not hand to the
// ReceiveFunc because its peer closed the connection while it waited for a Workers slot
// (Stats.FramesAbandoned): it gets no answer.
var errAbandoned = errors.New("nio: message dropped: its sender closed the connection while it waited")

// deliver hands one message to the ReceiveFunc. A panic is reported like an error, so that
// a synchronized-ack sender gets a FAIL_ACK instead of the node crashing. With
// EngineGoroutine it first waits for one of the Workers slots; a message whose turn comes
// after Stop gave up waiting (its context ended) is dropped (errDropped), so that only the
// ReceiveFuncs running when Stop returned finish after it. A message whose slot was not
// free at once is dropped (errAbandoned, Stats.FramesAbandoned) if gone, non-nil, then
// reports its peer gone.
func (r *receiver) deliver(msg *channel.Message, gone func() bool) (err error) {
	if r.slots != nil {
		waited := false
		select {
		case r.slots <- struct{}{}:
		default:
			r.slots <- struct{}{}
			waited = true
		}
		defer func() { <-r.slots }()
		if waited && gone != nil && !r.dropping.Load() && gone() {
			msg.Release()
			r.st.framesAbandoned.Add(1)
			return errAbandoned
		}
	}
	if r.dropping.Load() {
		r.st.framesDroppedByStop.Add(1)
		msg.Release() // never delivered: nothing holds its buffer
		return errDropped
	}
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
// ack writes one ACK or FAIL_ACK frame and counts it in ctr. gone, if set, is asked
// about a synchronized-ack message that had to wait for a Workers slot (see deliver). It
// returns the delivery's error.
func (r *receiver) deliverAcked(msg *channel.Message, mode ackMode, ack func(frame []byte, ctr *atomic.Uint64), gone func() bool) error {
	if mode == ackBefore {
		ack(wire.AckFrame, &r.st.acksSent)
		r.st.ackWritten()
	}
	if mode != ackAfter {
		gone = nil // no ACK, or written already: delivered whatever the peer does
	}
	err := r.deliver(msg, gone)
	if mode != ackAfter || err == errDropped || err == errAbandoned {
		return err
	}
	if err == nil {
		ack(wire.AckFrame, &r.st.acksSent)
	} else {
		ack(wire.FailAckFrame, &r.st.failAcksSent)
	}
	r.st.ackWritten()
	return err
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

// countBuffered updates a connection's share of Stats.PendingBytes, *counted, to in, its
// undecoded inbound bytes now. It reports false, counting none of the growth, when that
// would pass MaxPendingBytes: the connection is to be refused (errOverBudget), as a large
// frame that does not fit is, and the budget holds (its bytes are given back as it closes).
func (r *receiver) countBuffered(in int64, counted *int64) bool {
	d := in - *counted
	if d == 0 {
		return true
	}
	if r.st.pendingBytes.Add(d) > r.maxPending && d > 0 {
		r.st.pendingBytes.Add(-d)
		return false
	}
	*counted = in
	return true
}
