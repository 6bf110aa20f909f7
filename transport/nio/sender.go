package nio

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/wire"
)

// ErrPoolExhausted is wrapped by the error of a destination for which no pooled connection
// became free within MaxWait (Tomcat's PooledSender gives up the same way).
var ErrPoolExhausted = errors.New("nio: no free connection to the member within MaxWait")

// errFailAck marks a FAIL_ACK inside the sender; it is reported as channel.ErrAckFailed.
var errFailAck = errors.New("FAIL_ACK")

// staleAfter is how long a pooled connection may sit idle before it is checked (one
// non-blocking peek) for a peer that closed it, before it is used again.
const staleAfter = 100 * time.Millisecond

// deadlineSlack is how much earlier than asked a connection's I/O deadline may be left,
// to save a timer update per message on a busy connection.
const deadlineSlack = 5 * time.Millisecond

// longAgo is a deadline in the past, to interrupt blocked I/O.
var longAgo = time.Unix(1, 0)

// sender is the running sender level: connection pools keyed by member address.
type sender struct {
	cfg  *Config
	st   *counters
	life context.Context // cancelled by close
	stop context.CancelFunc

	mu     sync.RWMutex
	pools  map[poolKey]*memberPool
	closed atomic.Bool
}

type poolKey struct {
	ip   netip.Addr
	port int32
	udp  bool
}

func newSender(cfg *Config, st *counters) *sender {
	s := &sender{cfg: cfg, st: st, pools: make(map[poolKey]*memberPool)}
	s.life, s.stop = context.WithCancel(context.Background())
	return s
}

func (s *sender) pool(k poolKey) *memberPool {
	s.mu.RLock()
	p := s.pools[k]
	s.mu.RUnlock()
	if p != nil {
		return p
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if p = s.pools[k]; p == nil {
		p = &memberPool{s: s, key: k, slots: make(chan struct{}, s.cfg.PoolSize), all: make(map[*sconn]struct{})}
		s.pools[k] = p
	}
	return p
}

// close closes every connection, idle or busy, and fails waiters: sends in flight end
// promptly with an error wrapping channel.ErrNotStarted.
func (s *sender) close() {
	s.closed.Store(true)
	s.stop()
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, p := range s.pools {
		p.closeAll()
	}
}

// forget drops the pooled connections to m (its TCP and UDP addresses): the idle ones are
// closed now, the lent ones when they come back.
func (s *sender) forget(m channel.Member) {
	ip := m.IP()
	for _, k := range []poolKey{{ip: ip, port: m.Port}, {ip: ip, port: m.UDPPort, udp: true}} {
		s.mu.RLock()
		p := s.pools[k]
		s.mu.RUnlock()
		if p != nil {
			p.forget()
		}
	}
}

func (s *sender) heartbeat() {
	s.mu.RLock()
	pools := make([]*memberPool, 0, len(s.pools))
	for _, p := range s.pools {
		pools = append(pools, p)
	}
	s.mu.RUnlock()
	now := time.Now()
	for _, p := range pools {
		p.sweep(now)
	}
}

// send delivers msg to every member of to: inline for one destination, otherwise one
// goroutine per extra destination.
func (s *sender) send(ctx context.Context, to []channel.Member, msg *channel.Message) error {
	if len(to) == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return channel.NewSendError(msg.ID, channel.AppendFaulty(nil, fmt.Errorf("nio: send: %w", err), to))
	}
	f, err := encodeFrame(msg, s.cfg.MaxFrameSize)
	if err != nil {
		return channel.NewSendError(msg.ID, channel.AppendFaulty(nil, err, to))
	}
	defer f.release()
	udp := msg.Options&channel.OptUDP != 0
	if udp {
		if f.size > MaxUDPSize {
			return channel.NewSendError(msg.ID, channel.AppendFaulty(nil, fmt.Errorf("%w: a %d-byte frame does not fit a datagram (max %d)",
				channel.ErrMessageTooLarge, f.size, MaxUDPSize), to))
		}
		f.contiguous()
	}
	now := time.Now()
	deadline := now.Add(s.cfg.Timeout)
	ctxBound := false
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline, ctxBound = d, true
	}
	op := sendOp{s: s, ctx: ctx, f: f, now: now, deadline: deadline, ctxBound: ctxBound,
		waitAck: msg.Options.WaitsForAck(), udp: udp}

	if len(to) == 1 {
		return channel.NewSendError(msg.ID, channel.AppendFaulty(nil, op.deliver(&to[0]), to))
	}
	fo := fanoutPool.Get().(*fanout)
	fo.op, fo.to = op, to
	fo.errs = slices.Grow(fo.errs[:0], len(to))[:len(to)]
	fo.wg.Add(len(to) - 1)
	for i := 1; i < len(to); i++ {
		go fo.deliverTo(i)
	}
	fo.errs[0] = fo.op.deliver(&to[0])
	fo.wg.Wait()
	var faulty []channel.FaultyMember
	for i, err := range fo.errs {
		faulty = channel.AppendFaulty(faulty, err, to[i:i+1])
	}
	clear(fo.errs)
	fo.op, fo.to = sendOp{}, nil
	fanoutPool.Put(fo)
	return channel.NewSendError(msg.ID, faulty)
}

// fanout is a Send to several members, shared by the goroutines of its destinations and
// pooled, so that such a send allocates only its goroutines.
type fanout struct {
	op   sendOp
	to   []channel.Member
	errs []error // one per member of to
	wg   sync.WaitGroup
}

var fanoutPool = sync.Pool{New: func() any { return new(fanout) }}

func (fo *fanout) deliverTo(i int) {
	defer fo.wg.Done()
	fo.errs[i] = fo.op.deliver(&fo.to[i])
}

// sendOp is one Send: shared, read-only, by the goroutines of its destinations.
type sendOp struct {
	s        *sender
	ctx      context.Context
	f        *outFrame
	now      time.Time
	deadline time.Time
	ctxBound bool // deadline is the context's, not now+Timeout
	waitAck  bool
	udp      bool
}

// deliver sends the frame to one member, with retries, and returns the member's error.
func (op *sendOp) deliver(m *channel.Member) error {
	s := op.s
	err := op.attempts(m)
	if err == nil {
		s.st.messagesSent.Add(1)
		return nil
	}
	s.st.sendErrors.Add(1)
	if errors.Is(err, channel.ErrAckTimeout) {
		s.st.ackTimeouts.Add(1)
	}
	return err
}

func (op *sendOp) attempts(m *channel.Member) error {
	s := op.s
	k := poolKey{ip: m.IP(), port: m.Port, udp: op.udp}
	if op.udp {
		k.port = m.UDPPort
	}
	if !k.ip.IsValid() || k.port <= 0 || k.port > 65535 {
		what := "TCP"
		if op.udp {
			what = "UDP"
		}
		return fmt.Errorf("%w: member %s has no usable %s address", channel.ErrConnect, m.String(), what)
	}
	p := s.pool(k)
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			s.st.retries.Add(1)
		}
		c, err := p.get(op, attempt > 0)
		if err == nil {
			err = op.roundTrip(c)
			p.put(c, err, op.now)
			if err == nil {
				return nil
			}
			err = op.describe(k, err)
		}
		if attempt >= s.cfg.MaxRetryAttempts || !retryable(err) || op.ctx.Err() != nil || !time.Now().Before(op.deadline) {
			return err
		}
	}
}

// retryable: connect failures, lost connections and FAIL_ACKs get another attempt; ack
// timeouts, cancellation, a stopped sender and an exhausted pool do not.
func retryable(err error) bool {
	return errors.Is(err, channel.ErrConnect) || errors.Is(err, channel.ErrConnectionLost) ||
		errors.Is(err, channel.ErrAckFailed)
}

// roundTrip writes the frame on c and, with USE_ACK, waits for the ACK. The deadline covers
// both; a cancelled ctx interrupts them by moving the deadline into the past.
func (op *sendOp) roundTrip(c *sconn) error {
	// Moving a deadline costs a timer update; a deadline set by a send a moment ago is
	// kept if it is at most deadlineSlack earlier than this send's.
	if c.deadline.After(op.deadline) || op.deadline.Sub(c.deadline) > deadlineSlack {
		if err := c.conn.SetDeadline(op.deadline); err != nil {
			return err
		}
		c.deadline = op.deadline
	}
	var stop func() bool
	if op.ctx.Done() != nil {
		stop = context.AfterFunc(op.ctx, c.interrupt)
	}
	err := op.exchange(c)
	if stop != nil && !stop() {
		// The interrupt ran or is about to run: the connection's deadline cannot be trusted.
		c.broken = true
		c.deadline = longAgo
		if err == nil && op.ctx.Err() != nil {
			err = op.ctx.Err()
		}
	}
	return err
}

func (op *sendOp) exchange(c *sconn) error {
	var err error
	if op.udp {
		_, err = c.conn.Write(op.f.contiguous())
	} else {
		err = op.f.writeTo(c.conn, &c.iov)
	}
	if err != nil {
		return err
	}
	op.s.st.bytesSent.Add(uint64(op.f.size))
	if !op.waitAck {
		return nil
	}
	var kind wire.AckKind
	if op.udp {
		kind, err = c.readAckDatagram(op.s.cfg.MaxFrameSize)
	} else {
		kind, err = c.readAck(op.s.cfg.MaxFrameSize)
	}
	if err != nil {
		return err
	}
	if kind == wire.FailAck {
		op.s.st.failAcksRecv.Add(1)
		if !op.s.cfg.IgnoreFailedAck {
			return errFailAck
		}
	}
	return nil
}

// describe turns a raw error of one attempt into the member's error, wrapping the
// channel sentinel that says what happened.
func (op *sendOp) describe(k poolKey, err error) error {
	addr := netip.AddrPortFrom(k.ip, uint16(k.port))
	switch {
	case errors.Is(err, channel.ErrConnect), errors.Is(err, channel.ErrNotStarted),
		errors.Is(err, channel.ErrAckTimeout), errors.Is(err, ErrPoolExhausted):
		return err
	case op.s.closed.Load():
		return fmt.Errorf("%w: nio sender stopped while sending to %s: %w", channel.ErrNotStarted, addr, err)
	case op.ctx.Err() != nil && !errors.Is(err, errFailAck):
		return fmt.Errorf("nio: send to %s: %w", addr, op.ctx.Err())
	case errors.Is(err, errFailAck):
		return fmt.Errorf("%w: %s answered FAIL_ACK", channel.ErrAckFailed, addr)
	case errors.Is(err, os.ErrDeadlineExceeded) && op.ctxBound:
		// The context's deadline came first; its timer may not have fired yet.
		return fmt.Errorf("nio: send to %s: %w", addr, context.DeadlineExceeded)
	case errors.Is(err, os.ErrDeadlineExceeded):
		return fmt.Errorf("%w: %s did not answer within %v: %w", channel.ErrAckTimeout, addr, op.s.cfg.Timeout, err)
	case errors.Is(err, syscall.EMSGSIZE):
		return fmt.Errorf("%w: %s: %w", channel.ErrMessageTooLarge, addr, err)
	}
	return fmt.Errorf("%w: %s: %w", channel.ErrConnectionLost, addr, err)
}

// memberPool holds the connections to one member address: at most PoolSize, each carrying
// one message at a time. slots counts the connections lent out.
type memberPool struct {
	s     *sender
	key   poolKey
	slots chan struct{}

	mu     sync.Mutex
	idle   []*sconn // most recently used last
	all    map[*sconn]struct{}
	closed bool
}

// get lends a connection: an idle one (unless fresh is asked, for a retry) or a new one.
func (p *memberPool) get(op *sendOp, fresh bool) (*sconn, error) {
	s := p.s
	select {
	case p.slots <- struct{}{}:
	default:
		if err := p.waitSlot(op); err != nil {
			return nil, err
		}
	}
	if !fresh {
		if c := p.popIdle(op.now); c != nil {
			return c, nil
		}
	}
	c, err := p.dial(op)
	if err != nil {
		<-p.slots
		if !s.closed.Load() && op.ctx.Err() == nil {
			s.st.dialFailures.Add(1)
		}
		return nil, err
	}
	return c, nil
}

func (p *memberPool) waitSlot(op *sendOp) error {
	wait := p.s.cfg.MaxWait
	byDeadline := false
	if d := time.Until(op.deadline); d < wait {
		wait, byDeadline = d, true
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case p.slots <- struct{}{}:
		return nil
	case <-t.C:
		addr := netip.AddrPortFrom(p.key.ip, uint16(p.key.port))
		if byDeadline {
			if op.ctxBound {
				return fmt.Errorf("nio: waiting for a connection to %s: %w", addr, context.DeadlineExceeded)
			}
			return fmt.Errorf("%w: all %d connections to %s stayed busy until the deadline", channel.ErrAckTimeout, cap(p.slots), addr)
		}
		return fmt.Errorf("%w (%s, %d connections busy for %v)", ErrPoolExhausted, addr, cap(p.slots), p.s.cfg.MaxWait)
	case <-op.ctx.Done():
		return fmt.Errorf("nio: waiting for a connection: %w", op.ctx.Err())
	case <-p.s.life.Done():
		return fmt.Errorf("%w: nio sender stopped", channel.ErrNotStarted)
	}
}

func (p *memberPool) popIdle(now time.Time) *sconn {
	for {
		p.mu.Lock()
		n := len(p.idle)
		if n == 0 {
			p.mu.Unlock()
			return nil
		}
		c := p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		if p.expired(c, now) || (now.Sub(c.lastUse) >= staleAfter && !c.alive()) {
			p.s.st.connsExpired.Add(1)
			p.discard(c)
			continue
		}
		return c
	}
}

func (p *memberPool) expired(c *sconn, now time.Time) bool {
	cfg := p.s.cfg
	return (cfg.KeepAliveCount > 0 && c.uses >= cfg.KeepAliveCount) ||
		(cfg.KeepAliveTime > 0 && now.Sub(c.created) >= cfg.KeepAliveTime)
}

func (p *memberPool) dial(op *sendOp) (*sconn, error) {
	s := p.s
	cfg := s.cfg
	addr := netip.AddrPortFrom(p.key.ip, uint16(p.key.port))
	if s.closed.Load() {
		return nil, fmt.Errorf("%w: nio sender stopped", channel.ErrNotStarted)
	}
	timeout := min(cfg.DialTimeout, time.Until(op.deadline))
	if timeout <= 0 {
		if op.ctxBound {
			return nil, fmt.Errorf("nio: connect to %s: %w", addr, context.DeadlineExceeded)
		}
		return nil, fmt.Errorf("%w: no time left to connect to %s", channel.ErrAckTimeout, addr)
	}
	ctx, cancel := context.WithTimeout(op.ctx, timeout)
	defer cancel()
	stop := context.AfterFunc(s.life, cancel)
	defer stop()
	d := net.Dialer{KeepAlive: -1}
	network := "tcp"
	if p.key.udp {
		network = "udp"
	}
	conn, err := d.DialContext(ctx, network, addr.String())
	if err != nil {
		switch {
		case s.closed.Load():
			return nil, fmt.Errorf("%w: nio sender stopped while connecting to %s", channel.ErrNotStarted, addr)
		case op.ctx.Err() != nil:
			return nil, fmt.Errorf("nio: connect to %s: %w", addr, op.ctx.Err())
		case op.ctxBound && !time.Now().Before(op.deadline):
			return nil, fmt.Errorf("nio: connect to %s: %w", addr, context.DeadlineExceeded)
		}
		return nil, fmt.Errorf("%w: %w", channel.ErrConnect, err)
	}
	s.st.dials.Add(1)
	switch c := conn.(type) {
	case *net.TCPConn:
		_ = c.SetNoDelay(!cfg.DisableTCPNoDelay)
		setBuffers(c, cfg.SenderRxBufSize, cfg.SenderTxBufSize)
	case *net.UDPConn:
		setBuffers(c, cfg.SenderRxBufSize, cfg.SenderTxBufSize)
	}
	c := &sconn{conn: conn, created: time.Now()}
	c.interrupt = func() { _ = conn.SetDeadline(longAgo) }
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		_ = conn.Close()
		return nil, fmt.Errorf("%w: nio sender stopped", channel.ErrNotStarted)
	}
	p.all[c] = struct{}{}
	p.mu.Unlock()
	s.st.connsPooled.Add(1)
	return c, nil
}

func setBuffers(c interface {
	SetReadBuffer(int) error
	SetWriteBuffer(int) error
}, rx, tx int) {
	if rx > 0 {
		_ = c.SetReadBuffer(rx)
	}
	if tx > 0 {
		_ = c.SetWriteBuffer(tx)
	}
}

// put returns a lent connection. A connection that failed is closed, never pooled (a
// FAIL_ACK leaves it healthy); so is one past its keep-alive limits. UDP connections are
// pooled too: they are connected datagram sockets and a timed-out one is closed, so a late
// ACK cannot be taken for the next message's.
func (p *memberPool) put(c *sconn, err error, now time.Time) {
	defer func() { <-p.slots }()
	if p.s.cfg.KeepAliveTime > 0 {
		now = time.Now() // the send's start time may precede the connection's creation
	}
	c.uses++
	c.lastUse = now
	if c.broken || (err != nil && !errors.Is(err, errFailAck)) {
		p.discard(c)
		return
	}
	if p.expired(c, now) {
		p.s.st.connsExpired.Add(1)
		p.discard(c)
		return
	}
	p.mu.Lock()
	if p.closed || c.retired {
		p.mu.Unlock()
		p.discard(c)
		return
	}
	p.idle = append(p.idle, c)
	p.mu.Unlock()
}

func (p *memberPool) discard(c *sconn) {
	p.mu.Lock()
	_, ok := p.all[c]
	delete(p.all, c)
	p.mu.Unlock()
	if ok {
		_ = c.conn.Close()
		p.s.st.connsPooled.Add(-1)
	}
}

func (p *memberPool) closeAll() {
	p.mu.Lock()
	p.closed = true
	conns := make([]*sconn, 0, len(p.all))
	for c := range p.all {
		conns = append(conns, c)
	}
	p.idle = nil
	p.mu.Unlock()
	for _, c := range conns {
		p.discard(c)
	}
}

// forget closes the idle connections and retires the lent ones: put closes them.
func (p *memberPool) forget() {
	p.mu.Lock()
	idle := p.idle
	p.idle = nil
	for c := range p.all {
		c.retired = true
	}
	p.mu.Unlock()
	for _, c := range idle {
		p.discard(c)
	}
}

// sweep closes idle connections past their keep-alive limits or closed by the peer.
func (p *memberPool) sweep(now time.Time) {
	p.mu.Lock()
	idle := p.idle
	keep := idle[:0]
	var drop []*sconn
	for _, c := range idle {
		if p.expired(c, now) || !c.alive() {
			drop = append(drop, c)
		} else {
			keep = append(keep, c)
		}
	}
	clear(idle[len(keep):])
	p.idle = keep
	p.mu.Unlock()
	for _, c := range drop {
		p.s.st.connsExpired.Add(1)
		p.discard(c)
	}
}

// sconn is one outbound connection. It is used by one send at a time.
type sconn struct {
	conn      net.Conn
	deadline  time.Time // the I/O deadline currently set
	created   time.Time
	lastUse   time.Time
	uses      int
	broken    bool
	retired   bool // the member disappeared: close when returned (guarded by the pool's mu)
	interrupt func()
	ackBuf    []byte
	iov       net.Buffers // scratch for writev
}

// readAck reads frames until one is an ACK or FAIL_ACK; other complete frames are
// ignored, as Java does. Bytes after that frame are dropped.
func (c *sconn) readAck(maxBody int) (wire.AckKind, error) {
	if c.ackBuf == nil {
		c.ackBuf = make([]byte, 128)
	}
	buf := c.ackBuf
	n := 0
	for {
		k, used, err := scanAck(buf[:n], maxBody)
		if err != nil {
			return wire.NotAck, fmt.Errorf("nio: invalid reply frame: %w", err)
		}
		if k != wire.NotAck {
			return k, nil
		}
		n = copy(buf, buf[used:n])
		if n == len(buf) {
			// A frame other than an ACK, larger than the buffer: grow (bounded by maxBody).
			buf = append(buf, make([]byte, len(buf))...)
			c.ackBuf = buf[:cap(buf)]
			buf = c.ackBuf
		}
		m, err := c.conn.Read(buf[n:])
		n += m
		if err != nil {
			if k, _, perr := scanAck(buf[:n], maxBody); m > 0 && perr == nil && k != wire.NotAck {
				return k, nil
			}
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return wire.NotAck, err
		}
	}
}

// readAckDatagram waits for a datagram holding an ACK or FAIL_ACK frame; other datagrams
// are ignored.
func (c *sconn) readAckDatagram(maxBody int) (wire.AckKind, error) {
	if c.ackBuf == nil {
		c.ackBuf = make([]byte, 512)
	}
	for {
		n, err := c.conn.Read(c.ackBuf)
		if err != nil {
			return wire.NotAck, err
		}
		if k, _, _ := scanAck(c.ackBuf[:n], maxBody); k != wire.NotAck {
			return k, nil
		}
	}
}

// scanAck looks through the whole frames at the start of b for an ACK or FAIL_ACK, the
// reply of both the TCP and the UDP path. It returns the kind found (NotAck if none), the
// bytes of the frames it passed, and the error of a corrupt frame met before an ACK.
func scanAck(b []byte, maxBody int) (wire.AckKind, int, error) {
	off := 0
	for off < len(b) {
		body, fl, err := wire.ParseFrame(b[off:], maxBody)
		if err != nil {
			return wire.NotAck, off, err
		}
		if fl == 0 {
			break
		}
		off += fl
		if k := wire.ClassifyAck(body); k != wire.NotAck {
			return k, off, nil
		}
	}
	return wire.NotAck, off, nil
}

// alive checks, without blocking, that an idle TCP connection was not closed by its peer
// and has no unexpected bytes waiting (which would be mistaken for the next ACK).
func (c *sconn) alive() bool {
	tc, ok := c.conn.(*net.TCPConn)
	if !ok {
		return true
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return false
	}
	ok = false
	err = rc.Control(func(fd uintptr) {
		var b [1]byte
		_, _, rerr := unix.Recvfrom(int(fd), b[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
		ok = rerr == unix.EAGAIN || rerr == unix.EWOULDBLOCK
	})
	return ok && err == nil
}
