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
