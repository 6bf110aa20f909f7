package nio

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/gotribes/tribes/channel"
)

// memberPool holds the connections to one member address: at most PoolSize, each carrying
// one message at a time. slots counts the connections lent out.
type memberPool struct {
	s     *sender
	key   poolKey
	slots chan struct{}

	mu      sync.Mutex
	idle    []*sconn // most recently used last
	all     map[*sconn]struct{}
	dialing int  // connects under way, each for a lent slot
	closed  bool // the sender stopped
	gone    bool // forgotten: out of sender.pools, every connection retired
}

// get lends a connection: an idle one (unless fresh is asked, for a retry) or a new one.
func (p *memberPool) get(op *sendOp, fresh bool) (*sconn, error) {
	select {
	case p.slots <- struct{}{}:
	default:
		if err := p.waitSlot(op); err != nil {
			return nil, err
		}
	}
	return p.lend(op, fresh)
}

// tryGet lends an idle connection without waiting and without dialling: ok is false, and
// nothing lent, when all PoolSize connections are lent out; c is nil, and a slot taken for
// it, when there is no idle connection (lend(op, true) dials one, or gives the slot back).
func (p *memberPool) tryGet(op *sendOp) (c *sconn, ok bool) {
	select {
	case p.slots <- struct{}{}:
	default:
		return nil, false
	}
	return p.popIdle(op.now), true
}

// lend lends a connection once a slot is taken: an idle one unless fresh, or a new one.
// On error the slot is given back.
func (p *memberPool) lend(op *sendOp, fresh bool) (*sconn, error) {
	s := p.s
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
	p.makeRoom()
	counted := true
	defer func() {
		if counted {
			p.mu.Lock()
			p.dialing--
			p.mu.Unlock()
		}
	}()
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
	c := &sconn{conn: conn, created: time.Now()}
	switch tc := conn.(type) {
	case *net.TCPConn:
		_ = tc.SetNoDelay(!cfg.DisableTCPNoDelay)
		setBuffers(tc, cfg.SenderRxBufSize, cfg.SenderTxBufSize)
		c.raw, _ = tc.SyscallConn()
		c.sock.init(c.raw, conn)
		s.readBuffers(c.raw)
	case *net.UDPConn:
		setBuffers(tc, cfg.SenderRxBufSize, cfg.SenderTxBufSize)
		c.raw, _ = tc.SyscallConn()
		c.sock.init(nil, conn) // datagrams go through conn
	default:
		c.sock.init(nil, conn)
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		_ = conn.Close()
		return nil, fmt.Errorf("%w: nio sender stopped", channel.ErrNotStarted)
	}
	p.dialing--
	counted = false
	p.all[c] = struct{}{}
	if p.gone {
		p.retire(c)
	}
	p.mu.Unlock()
	s.st.connsPooled.Add(1)
	return c, nil
}

// makeRoom closes the least recently used idle connections until the connection about to
// be dialled keeps the pool within PoolSize (a retry dials a fresh connection while the
// one that got a FAIL_ACK may sit idle), and counts the dial, which dial uncounts.
func (p *memberPool) makeRoom() {
	var drop []*sconn
	p.mu.Lock()
	for len(p.all)+p.dialing >= cap(p.slots) && len(p.idle) > 0 {
		c := p.idle[0]
		p.idle = slices.Delete(p.idle, 0, 1)
		delete(p.all, c)
		drop = append(drop, c)
	}
	p.dialing++
	p.mu.Unlock()
	for _, c := range drop {
		p.s.st.connsPooled.Add(-1)
		c.close()
	}
}

// readBuffers reads a new TCP connection's socket buffers back into the sender's gauges
// (Stats.SenderRxBufKernel, SenderTxBufKernel).
func (s *sender) readBuffers(raw syscall.RawConn) {
	if raw == nil {
		return
	}
	var rcv, snd int
	var gerr error
	if err := raw.Control(func(fd uintptr) { rcv, snd, gerr = socketBuffers(fd) }); err == nil {
		s.st.senderBufs.note(s.cfg.Logger, "sender", s.cfg.SenderRxBufSize, s.cfg.SenderTxBufSize, rcv, snd, gerr)
	}
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
		p.s.st.connsPooled.Add(-1)
	}
	c.close() // also when closeAll closed it first: a send since may have armed its interrupt again
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

// forget closes the idle connections and retires the lent ones, and those a send still
// holding p dials later: put closes them. The sender has dropped p from its pools.
func (p *memberPool) forget() {
	p.mu.Lock()
	p.gone = true
	idle := p.idle
	p.idle = nil
	for _, c := range idle {
		delete(p.all, c)
	}
	for c := range p.all {
		p.retire(c)
	}
	p.mu.Unlock()
	for _, c := range idle {
		p.s.st.connsPooled.Add(-1)
		c.close()
	}
}

// retire marks c, lent from a forgotten pool, to be closed when it is returned; as the
// pool is out of sender.pools, where sender.close finds connections, a stop of the sender
// closes c itself. Call with p.mu held.
func (p *memberPool) retire(c *sconn) {
	c.retired = true
	if c.stopHook == nil {
		conn := c.conn
		c.stopHook = context.AfterFunc(p.s.life, func() { _ = conn.Close() })
	}
}

// sweep closes idle connections past their keep-alive limits or closed by the peer, and
// drops the interrupt registration of those idle for staleAfter, so that an idle
// connection keeps a finished request's context reachable until the next heartbeat at most.
func (p *memberPool) sweep(now time.Time) {
	p.mu.Lock()
	idle := p.idle
	keep := idle[:0]
	var drop []*sconn
	for _, c := range idle {
		if p.expired(c, now) || !c.alive() {
			drop = append(drop, c)
		} else {
			if now.Sub(c.lastUse) >= staleAfter {
				c.unwatch()
			}
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
