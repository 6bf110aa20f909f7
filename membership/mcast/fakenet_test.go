package mcast

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/testutil"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// gnet's global worker pool (the channel test uses transport/nio).
		testutil.IgnoreGnetPool()...,
	)
}

// fakeNet is an in-memory multicast group: every datagram written by one conn reaches
// every open conn (its own included, like IP_MULTICAST_LOOP). It uses only channels and
// timers, so services on it run inside testing/synctest bubbles.
type fakeNet struct {
	mu    sync.Mutex
	conns []*fakeConn
	// block, if set, drops datagrams from src to dst (partitions, crashes).
	block func(src, dst *fakeConn) bool
	opens atomic.Int32
}

type fakeConn struct {
	nw     *fakeNet
	name   string
	addr   netip.AddrPort // the sender address of its datagrams
	in     chan datagram
	intr   chan struct{}
	closed chan struct{}
	once   sync.Once

	failReads  atomic.Int32  // the next n reads fail
	frozen     chan struct{} // non-nil: reads block until it is closed
	frozenMu   sync.Mutex
	failOpen   *atomic.Int32 // shared with the opener: opens that fail
	readErrors atomic.Int32
}

type datagram struct {
	b    []byte
	from netip.AddrPort
}

var errInjected = errors.New("injected socket error")

// opener returns an opener whose conns belong to nw and are named name.
func (nw *fakeNet) opener(name string, failOpen *atomic.Int32) (opener, *[]*fakeConn) {
	var mine []*fakeConn
	var mu sync.Mutex
	return func(*settings) (packetConn, error) {
		n := nw.opens.Add(1)
		if failOpen != nil && failOpen.Load() > 0 {
			failOpen.Add(-1)
			return nil, errInjected
		}
		c := &fakeConn{nw: nw, name: name, addr: netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), uint16(40000+n)),
			in: make(chan datagram, 4096), intr: make(chan struct{}, 1), closed: make(chan struct{}), failOpen: failOpen}
		nw.mu.Lock()
		nw.conns = append(nw.conns, c)
		nw.mu.Unlock()
		mu.Lock()
		mine = append(mine, c)
		mu.Unlock()
		return c, nil
	}, &mine
}

func (c *fakeConn) ReadPacket(b []byte, deadline time.Time) (int, netip.AddrPort, error) {
	c.frozenMu.Lock()
	fz := c.frozen
	c.frozenMu.Unlock()
	if fz != nil {
		select {
		case <-fz:
		case <-c.closed:
			return 0, netip.AddrPort{}, net.ErrClosed
		}
	}
	if c.failReads.Load() > 0 {
		c.failReads.Add(-1)
		c.readErrors.Add(1)
		return 0, netip.AddrPort{}, errInjected
	}
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case p := <-c.in:
		return copy(b, p.b), p.from, nil
	case <-t.C:
		return 0, netip.AddrPort{}, os.ErrDeadlineExceeded
	case <-c.intr:
		return 0, netip.AddrPort{}, os.ErrDeadlineExceeded
	case <-c.closed:
		return 0, netip.AddrPort{}, net.ErrClosed
	}
}

func (c *fakeConn) Interrupt() {
	select {
	case c.intr <- struct{}{}:
	default:
	}
}

func (c *fakeConn) Resume() {
	select {
	case <-c.intr:
	default:
	}
}

func (c *fakeConn) freeze() {
	c.frozenMu.Lock()
	c.frozen = make(chan struct{})
	c.frozenMu.Unlock()
}

func (c *fakeConn) thaw() {
	c.frozenMu.Lock()
	close(c.frozen)
	c.frozen = nil
	c.frozenMu.Unlock()
}

func (c *fakeConn) WritePacket(b []byte) error {
	select {
	case <-c.closed:
		return net.ErrClosed
	default:
	}
	c.nw.mu.Lock()
	dsts := slices.Clone(c.nw.conns)
	block := c.nw.block
	c.nw.mu.Unlock()
	for _, d := range dsts {
		if block != nil && block(c, d) {
			continue
		}
		select {
		case <-d.closed:
		case d.in <- datagram{slices.Clone(b), c.addr}:
		default: // buffer full: dropped, like a datagram
		}
	}
	return nil
}

func (c *fakeConn) Close() error {
	c.once.Do(func() {
		close(c.closed)
		c.nw.mu.Lock()
		c.nw.conns = slices.DeleteFunc(c.nw.conns, func(x *fakeConn) bool { return x == c })
		c.nw.mu.Unlock()
	})
	return nil
}

// recorder is a MembershipListener (and message receiver) that records what it gets and
// fails the test if two calls overlap.
type recorder struct {
	t      *testing.T
	mu     sync.Mutex
	busy   atomic.Bool
	events []string // "+port" / "-port"
	gone   []channel.Member
	msgs   []*channel.Message
	at     []time.Time
}

func (r *recorder) enter() {
	if !r.busy.CompareAndSwap(false, true) {
		r.t.Error("membership events delivered concurrently")
	}
}

func (r *recorder) MemberAdded(m channel.Member) {
	r.enter()
	defer r.busy.Store(false)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, "+"+itoa(m.Port))
	r.at = append(r.at, time.Now())
}

func (r *recorder) MemberDisappeared(m channel.Member) {
	r.enter()
	defer r.busy.Store(false)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, "-"+itoa(m.Port))
	r.gone = append(r.gone, m)
	r.at = append(r.at, time.Now())
}

func (r *recorder) MessageReceived(msg *channel.Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, msg)
	return nil
}

func (r *recorder) snapshot() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events)
}

func (r *recorder) lastAt() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.at) == 0 {
		return time.Time{}
	}
	return r.at[len(r.at)-1]
}

func itoa(p int32) string {
	if p < 10 {
		return string(rune('0' + p))
	}
	return itoa(p/10) + string(rune('0'+p%10))
}
