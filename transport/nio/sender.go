package nio

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

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

// forget drops the pools of m (its TCP and UDP addresses): their idle connections are
// closed now, the lent ones when they come back. A send that took a pool before keeps
// using it; the next sends to m make new ones.
func (s *sender) forget(m channel.Member) {
	ip := m.IP()
	for _, k := range [...]poolKey{{ip: ip, port: m.Port}, {ip: ip, port: m.UDPPort, udp: true}} {
		s.mu.Lock()
		p := s.pools[k]
		delete(s.pools, k)
		s.mu.Unlock()
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

// send delivers msg to every member of to, from the calling goroutine (see sendAll for
// several members).
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
	legs := legsPool.Get().(*[]leg)
	ls := slices.Grow((*legs)[:0], len(to))[:len(to)]
	op.sendAll(to, ls)
	var faulty []channel.FaultyMember
	for i := range ls {
		faulty = channel.AppendFaulty(faulty, ls[i].err, to[i:i+1])
	}
	clear(ls)
	*legs = ls[:0]
	legsPool.Put(legs)
	return channel.NewSendError(msg.ID, faulty)
}

// leg is one destination of a send to several members.
type leg struct {
	p     *memberPool
	k     poolKey
	c     *sconn // written to, its reply not read yet
	err   error
	tried bool // the first attempt ran (err is its outcome)
	later bool // the pool had no free connection: all attempts after the others
}

// legsPool recycles the legs of sends to several members, so that such a send allocates
// nothing of its own.
var legsPool = sync.Pool{New: func() any { return new([]leg) }}

// sendAll delivers the frame to several members: it writes the frame on a connection to
// each member, then reads their ACKs in list order, so that the members process it at the
// same time and the send takes about as long as the slowest round trip. On the calling
// goroutine the frame goes to every member with an idle connection whose socket takes it
// at once; a member that needs a new connection, or whose socket does not take the whole
// frame at once (or a payload over inlineMax, written with writev), gets a goroutine that
// connects and writes, so that a member whose connect hangs or that does not read holds up
// no other. The ACKs are read once all those writes ended. A member whose attempt failed
// gets its retries once its turn to be read comes, one member after the other, within
// what is left of the send's deadline (a member that never answers uses it up for the
// retries of those after it). All the attempts of a member whose pool has no free
// connection at once (a member listed twice, or every connection lent to other sends) come
// last, so the send never waits for a connection it holds itself. Each member's outcome
// ends in ls[i].err.
func (op *sendOp) sendAll(to []channel.Member, ls []leg) {
	var slow *slowLegs // made for the first member that needs a goroutine
	for i := range ls {
		l := &ls[i]
		if l.k, l.err = op.key(&to[i]); l.err != nil {
			continue
		}
		l.p = op.s.pool(l.k)
		c, ok := l.p.tryGet(op)
		if !ok {
			l.later = true
			continue
		}
		l.tried = true
		n := 0
		if c != nil {
			var err error
			if n, err = op.beginNoWait(c); err != nil {
				l.err = op.finish(l.p, l.k, c, op.end(c, err))
				continue
			}
			if n == op.f.size {
				l.c = c
				continue
			}
		}
		if slow == nil {
			slow = &slowLegs{op: *op}
		}
		slow.wg.Add(1)
		go slow.op.finishWrite(l, c, n, &slow.wg)
	}
	if slow != nil {
		slow.wg.Wait()
	}
	for i := range ls {
		l := &ls[i]
		if l.c != nil {
			var err error
			if op.waitAck {
				// Past the deadline (a member before this one did not answer in time), an
				// ACK that arrived meanwhile still counts.
				err = op.awaitAck(l.c, !time.Now().Before(op.deadline))
			}
			l.err = op.finish(l.p, l.k, l.c, op.end(l.c, err))
			l.c = nil
		}
		if l.tried && l.err != nil && op.again(0, l.err) {
			l.err = op.attempts(l.p, l.k, 1, errors.Is(l.err, channel.ErrConnectionLost))
		}
	}
	for i := range ls {
		l := &ls[i]
		if l.later {
			l.err = op.attempts(l.p, l.k, 0, false)
		}
		op.count(l.err)
	}
}

// slowLegs are the goroutines of one sendAll, and the copy of its sendOp they share.
type slowLegs struct {
	op sendOp
	wg sync.WaitGroup
}

// finishWrite, on a goroutine of its own, writes the frame to l's member from byte n on:
// on c, or (c nil) on a connection it dials, for which l's pool has a slot taken. It
// leaves the connection in l.c, or the error in l.err.
func (op *sendOp) finishWrite(l *leg, c *sconn, n int, wg *sync.WaitGroup) {
	defer wg.Done()
	var err error
	if c == nil {
		if c, err = l.p.lend(op, true); err != nil {
			l.err = err
			return
		}
		err = op.begin(c)
	} else if n == 0 {
		err = op.write(c)
	} else if _, err = c.sock.Write(op.f.head[n:]); err == nil {
		op.s.st.bytesSent.Add(uint64(op.f.size))
	}
	if err != nil {
		l.err = op.finish(l.p, l.k, c, op.end(c, err))
		return
	}
	l.c = c
}

// sendOp is one Send: its frame, deadline and options.
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
	k, err := op.key(m)
	if err == nil {
		err = op.attempts(op.s.pool(k), k, 0, false)
	}
	op.count(err)
	return err
}

// count counts the outcome of the frame's delivery to one member.
func (op *sendOp) count(err error) {
	st := op.s.st
	if err == nil {
		st.messagesSent.Add(1)
		return
	}
	st.sendErrors.Add(1)
	if errors.Is(err, channel.ErrAckTimeout) {
		st.ackTimeouts.Add(1)
	}
}

// key is the pool key of m's TCP or UDP address, or an error wrapping channel.ErrConnect if
// m has none.
func (op *sendOp) key(m *channel.Member) (poolKey, error) {
	k := poolKey{ip: m.IP(), port: m.Port, udp: op.udp}
	if op.udp {
		k.port = m.UDPPort
	}
	if !k.ip.IsValid() || k.port <= 0 || k.port > 65535 {
		what := "TCP"
		if op.udp {
			what = "UDP"
		}
		return k, fmt.Errorf("%w: member %s has no usable %s address", channel.ErrConnect, m.String(), what)
	}
	return k, nil
}

// attempts runs the attempts from first on (a retry from 1) until one succeeds or again
// says stop; lost says an attempt before first lost its connection (ErrConnectionLost:
// the member may have taken the frame). A last attempt after such a one that could not
// connect or was answered FAIL_ACK wraps ErrConnectionLost too: ErrConnect or
// ErrAckFailed alone says the member did not take the message.
func (op *sendOp) attempts(p *memberPool, k poolKey, first int, lost bool) error {
	for attempt := first; ; attempt++ {
		if attempt > 0 {
			op.s.st.retries.Add(1)
		}
		c, err := p.get(op, attempt > 0)
		if err == nil {
			if err = op.finish(p, k, c, op.roundTrip(c)); err == nil {
				return nil
			}
		}
		if !op.again(attempt, err) {
			if lost && !errors.Is(err, channel.ErrConnectionLost) {
				err = fmt.Errorf("%w after an earlier attempt sent it: %w", channel.ErrConnectionLost, err)
			}
			return err
		}
		lost = lost || errors.Is(err, channel.ErrConnectionLost)
	}
}

// again reports whether attempt, which failed with err, gets another one.
func (op *sendOp) again(attempt int, err error) bool {
	return attempt < op.s.cfg.MaxRetryAttempts && retryable(err) && op.ctx.Err() == nil && time.Now().Before(op.deadline)
}

// finish returns c, lent for an attempt that ended with err, to p and describes err.
func (op *sendOp) finish(p *memberPool, k poolKey, c *sconn, err error) error {
	p.put(c, err, op.now)
	if err != nil {
		err = op.describe(k, err)
	}
	return err
}

// retryable: connect failures, lost connections and FAIL_ACKs get another attempt; ack
// timeouts, cancellation, a stopped sender and an exhausted pool do not.
func retryable(err error) bool {
	return errors.Is(err, channel.ErrConnect) || errors.Is(err, channel.ErrConnectionLost) ||
		errors.Is(err, channel.ErrAckFailed)
}

// roundTrip writes the frame on c and, with USE_ACK, waits for the ACK.
func (op *sendOp) roundTrip(c *sconn) error {
	err := op.begin(c)
	if err == nil && op.waitAck {
		err = op.awaitAck(c, false)
	}
	return op.end(c, err)
}

// begin sets c's deadline, which covers the write and the wait for the ACK, arms the
// interrupt by which a cancelled ctx moves it into the past (sconn.watch), and writes the
// frame. end must follow.
func (op *sendOp) begin(c *sconn) error {
	if err := op.arm(c); err != nil {
		return err
	}
	return op.write(c)
}

// beginNoWait is begin writing only what c's socket takes at once: it returns how many
// bytes of the frame that was (none of a payload over inlineMax; a datagram is written
// whole). end must follow.
func (op *sendOp) beginNoWait(c *sconn) (int, error) {
	if err := op.arm(c); err != nil {
		return 0, err
	}
	if op.udp {
		if err := op.write(c); err != nil {
			return 0, err
		}
		return op.f.size, nil
	}
	if op.f.payload != nil {
		return 0, nil
	}
	n, err := c.sock.WriteNoWait(op.f.head)
	if err == nil && n == op.f.size {
		op.s.st.bytesSent.Add(uint64(n))
	}
	return n, err
}

// arm sets c's deadline and arms the interrupt of a cancelled ctx (see begin).
func (op *sendOp) arm(c *sconn) error {
	// Moving a deadline costs a timer update; a deadline set by a send a moment ago is
	// kept if it is at most deadlineSlack earlier than this send's.
	if c.deadline.After(op.deadline) || op.deadline.Sub(c.deadline) > deadlineSlack {
		if err := c.conn.SetDeadline(op.deadline); err != nil {
			return err
		}
		c.deadline = op.deadline
	}
	if op.ctx.Done() != nil {
		c.watch(op.ctx)
		if err := op.ctx.Err(); err != nil {
			return err // cancelled while the interrupt was being armed
		}
	}
	return nil
}

// end disarms the interrupt of begin and returns the round trip's error. A round trip
// that completed (the frame written and, with USE_ACK, its ACK read) stands even if ctx
// ended meanwhile: the member has the message, and reporting a failure would make the
// caller count it lost or send it again.
func (op *sendOp) end(c *sconn, err error) error {
	if op.ctx.Done() == nil {
		return err
	}
	c.active.Store(0)
	if op.ctx.Err() != nil {
		// The interrupt ran or may still run: the connection's deadline cannot be trusted.
		c.broken = true
		c.deadline = longAgo
	}
	return err
}

func (op *sendOp) write(c *sconn) error {
	var err error
	if op.udp {
		_, err = c.conn.Write(op.f.contiguous())
	} else if op.f.payload == nil {
		_, err = c.sock.Write(op.f.head)
	} else {
		err = op.f.writeTo(&c.sock, &c.iov)
	}
	if err != nil {
		return err
	}
	op.s.st.bytesSent.Add(uint64(op.f.size))
	return nil
}

// awaitAck reads the reply to the frame written on c: nil for an ACK, errFailAck for a
// FAIL_ACK unless IgnoreFailedAck. With now, only a reply already received counts (TCP).
func (op *sendOp) awaitAck(c *sconn, now bool) error {
	var kind wire.AckKind
	var err error
	if op.udp {
		kind, err = c.readAckDatagram(op.s.cfg.MaxFrameSize, now)
	} else {
		kind, err = c.readAck(op.s.cfg.MaxFrameSize, now)
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
		// The answer carries no reason: say what it may be (TestFailAckErrorSaysWhatItMayMean).
		return fmt.Errorf("%w: %s answered FAIL_ACK: a listener there returned an error, or none accepted the message, "+
			"or that node does not list this one as a member (its channel's Stats count which: ListenerFailures, Unhandled, "+
			"NonMemberDropped)", channel.ErrAckFailed, addr)
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
