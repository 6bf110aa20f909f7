package channel

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gotribes/tribes/wire"
)

// coordinator is the bottom of the chain (Tribes' ChannelCoordinator): it owns the
// transport and the membership service, starts them level by level and keeps the local
// member.
type coordinator struct {
	InterceptorBase

	tr Transport
	mb MembershipService

	mu      sync.Mutex // serialises Start and Stop
	started atomic.Uint32
	// unfinished: the levels whose last Stop returned an error once its ctx had ended (a
	// transport/nio receiver, a membership/staticsvc ping goroutine still stopping in the
	// background). They are not running; the next Stop of such a level, and a Start of
	// it before it starts it, call the level's Stop again with their own ctx, which waits
	// for that stop. Guarded by mu.
	unfinished Service

	identity  Member // id, domain, payload from the configuration; address filled at start
	startedAt atomic.Int64
	// lmu serialises changes of the local member (updateLocal): each applies its change
	// to the member the one before left, and tells the membership service in that order.
	// Not mu, which Start holds while the membership service calls listeners, which may
	// call SetPayload. A re-stamp of the alive time (localWire) takes no lock: it replaces
	// the member it loaded only if nothing changed it meanwhile.
	lmu   sync.Mutex
	local atomic.Pointer[localMember]
}

type localMember struct {
	m       Member
	wire    []byte
	stamped int64 // unix ms at which wire's alive time was computed
}

// localRestamp is how stale the alive time inside the cached local member bytes may get.
const localRestamp = 500 // ms

func newCoordinator(tr Transport, mb MembershipService, identity Member) *coordinator {
	c := &coordinator{tr: tr, mb: mb, identity: identity}
	c.local.Store(c.stamp(identity))
	return c
}

// stamp returns m with a current alive time, and its wire form.
func (c *coordinator) stamp(m Member) *localMember {
	now := time.Now().UnixMilli()
	if s := c.startedAt.Load(); s != 0 {
		m.AliveTime = now - s
	}
	return &localMember{m: m, wire: wire.AppendMember(nil, &m), stamped: now}
}

// localWire returns the local member and its wire form, re-stamping the alive time when stale.
func (c *coordinator) localWire() (Member, []byte) {
	l := c.local.Load()
	if s := c.startedAt.Load(); s != 0 && time.Now().UnixMilli()-l.stamped > localRestamp {
		if n := c.stamp(l.m); c.local.CompareAndSwap(l, n) {
			l = n
		} else {
			l = c.local.Load() // changed meanwhile (updateLocal, or another re-stamp): freshly stamped
		}
	}
	return l.m, l.wire
}

func (c *coordinator) LocalMember(incAlive bool) Member {
	if incAlive {
		m, _ := c.localWire()
		return m
	}
	return c.local.Load().m
}

func (c *coordinator) Members() []Member {
	if c.mb == nil {
		return nil
	}
	return c.mb.Members()
}

func (c *coordinator) Member(key MemberKey) (Member, bool) {
	if c.mb == nil {
		return Member{}, false
	}
	return c.mb.Member(key)
}

func (c *coordinator) SendMessage(ctx context.Context, to []Member, msg *Message) error {
	if msg.Options&OptMulticast != 0 {
		b, ok := c.mb.(Broadcaster)
		if !ok {
			return ErrNoBroadcast
		}
		if Service(c.started.Load())&SvcMembershipTx == 0 {
			return fmt.Errorf("%w: multicast needs the membership-tx level", ErrNotStarted)
		}
		return b.Broadcast(ctx, msg)
	}
	if Service(c.started.Load())&SvcSender == 0 {
		return fmt.Errorf("%w: the sender level is stopped", ErrNotStarted)
	}
	return c.tr.Send(ctx, to, msg)
}

func (c *coordinator) Heartbeat() {
	s := Service(c.started.Load())
	if s&SvcTransport != 0 {
		c.tr.Heartbeat()
	}
	if s&SvcMembership != 0 && c.mb != nil {
		c.mb.Heartbeat()
	}
}

// Start starts svc's levels in Tribes' order: receiver, sender, membership rx, membership tx.
// If one fails, the levels this call started are stopped again.
func (c *coordinator) Start(ctx context.Context, svc Service) (err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	started := Service(c.started.Load())
	if svc&started != 0 {
		return fmt.Errorf("%w: %v", ErrAlreadyStarted, svc&started)
	}
	if err := c.awaitUnfinished(ctx, svc); err != nil {
		return err // nothing started
	}
	if started == 0 {
		c.startedAt.Store(time.Now().UnixMilli())
	}
	var done Service
	defer func() {
		if err != nil {
			uctx, cancel := FailedStartContext(ctx)
			defer cancel()
			if serr := c.stopLocked(uctx, done); serr != nil {
				err = errors.Join(err, fmt.Errorf("tribes: start: stopping the levels it started: %w", serr))
			}
			if Service(c.started.Load()) == 0 {
				c.startedAt.Store(0)
			}
		}
	}()
	mark := func(s Service) {
		done |= s
		c.started.Store(uint32(Service(c.started.Load()) | s))
	}
	// failed takes the level whose Start failed as one left stopping, so that the undo
	// calls its Stop (a no-op for a level not started): the transport or membership
	// service may have started it before failing (a bound listener, goroutines), or
	// returned ctx's error once ctx ended with the level running
	// (TestFailedStartStopsTheTransportLevelThatFailed,
	// TestFailedStartStopsTheMembershipLevelThatFailed).
	failed := func(s Service) {
		done |= s
		c.unfinished |= s
	}
	if svc&SvcReceiver != 0 {
		if err := c.tr.Start(ctx, SvcReceiver, c.MessageReceived); err != nil {
			failed(SvcReceiver)
			return fmt.Errorf("tribes: start receiver: %w", err)
		}
		mark(SvcReceiver)
		a := c.tr.LocalAddress()
		// A membership level still running (the receiver alone restarted) must advertise
		// the new address, as Tribes' internalStart calls setLocalMemberProperties.
		advertise := Service(c.started.Load())&SvcMembership != 0
		if err := c.updateLocal(func(m *Member) {
			m.Host, m.Port, m.SecurePort, m.UDPPort = a.Host, a.Port, a.SecurePort, a.UDPPort
		}, advertise); err != nil {
			return fmt.Errorf("tribes: start receiver: %w", err)
		}
	}
	if svc&SvcSender != 0 {
		if err := c.tr.Start(ctx, SvcSender, c.MessageReceived); err != nil {
			failed(SvcSender)
			return fmt.Errorf("tribes: start sender: %w", err)
		}
		mark(SvcSender)
	}
	for _, lvl := range []Service{SvcMembershipRx, SvcMembershipTx} {
		if svc&lvl == 0 {
			continue
		}
		if c.mb == nil {
			return fmt.Errorf("%w: no membership service configured for %v", ErrInvalidConfig, lvl)
		}
		if r, ok := c.mb.(MessageReceiver); ok {
			r.SetReceiveFunc(c.MessageReceived)
		}
		if err := c.mb.Start(ctx, lvl, c.LocalMember(true), c); err != nil {
			// membership/static, membership/cloud and channeltest return ctx's error
			// when it ended before their events went up, the level running.
			failed(lvl)
			return fmt.Errorf("tribes: start %v: %w", lvl, err)
		}
		mark(lvl)
	}
	return nil
}

// failedStartStop bounds the stop of the levels a failed Start had started, from the
// moment it failed: see Channel.Start.
const failedStartStop = 5 * time.Second

// undoBound is the one bound of a failed Channel.Start's undo, shared by every stop it
// makes (the coordinator's, an interceptor's, the channel's): the first of them fixes it.
type undoBound struct {
	mu       sync.Mutex
	set      bool
	deadline time.Time // failedStartStop after the first stop began
	detached bool      // Start's ctx had ended then: the stops run until deadline regardless
}

type undoKey struct{}

// withUndoBound returns ctx carrying a fresh undoBound, for one Channel.Start.
func withUndoBound(ctx context.Context) context.Context {
	return context.WithValue(ctx, undoKey{}, &undoBound{})
}

// FailedStartContext returns the context with which a Start that failed stops again the
// levels it had started: ctx's values, ending with ctx if ctx was still live when the
// failed Channel.Start's undo began, and 5 seconds after that in any case. Within one
// Channel.Start every call shares that bound (the coordinator's, an interceptor's that
// starts the levels below it in several calls, the channel's own), so that the whole
// undo takes no longer than Start's doc says (TestFailedStartUndoSharesOneBound). Called
// with a ctx that does not come from a Channel.Start, the 5 seconds run from the call
// (TestFailedStartContextOutsideAStart). The caller must call the CancelFunc.
func FailedStartContext(ctx context.Context) (context.Context, context.CancelFunc) {
	b, _ := ctx.Value(undoKey{}).(*undoBound)
	if b == nil {
		b = &undoBound{}
	}
	b.mu.Lock()
	if !b.set {
		b.set, b.deadline, b.detached = true, time.Now().Add(failedStartStop), ctx.Err() != nil
	}
	deadline, detached := b.deadline, b.detached
	b.mu.Unlock()
	if detached {
		ctx = context.WithoutCancel(ctx)
	}
	return context.WithDeadline(ctx, deadline)
}

// undoEnded reports whether the undo of the failed Channel.Start whose ctx this is ran out
// of its bound: a stop of it fixed the bound (FailedStartContext), which has ended since,
// at its deadline or with ctx if ctx was live then.
func undoEnded(ctx context.Context) bool {
	b, _ := ctx.Value(undoKey{}).(*undoBound)
	if b == nil {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.set && (!time.Now().Before(b.deadline) || !b.detached && ctx.Err() != nil)
}

// Stop stops svc's running levels in reverse order, waits (calling their Stop again)
// for svc's levels whose last Stop ended with its ctx, and returns every error met.
func (c *coordinator) Stop(ctx context.Context, svc Service) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	err := c.stopLocked(ctx, svc)
	if Service(c.started.Load()) == 0 {
		c.startedAt.Store(0)
	}
	return err
}

func (c *coordinator) stopLocked(ctx context.Context, svc Service) error {
	svc &= Service(c.started.Load()) | c.unfinished
	var errs []error
	for _, lvl := range []Service{SvcMembershipTx, SvcMembershipRx, SvcSender, SvcReceiver} {
		if svc&lvl == 0 {
			continue
		}
		if err := c.stopLevel(ctx, lvl); err != nil {
			errs = append(errs, fmt.Errorf("tribes: stop %v: %w", lvl, err))
		}
		// A level that failed to stop cleanly is still considered stopped: its resources
		// were released as far as possible and a restart must be allowed. One whose
		// Stop gave up when ctx ended is unfinished as well: the next Stop, or a Start
		// of it, calls its Stop again (stopLevel), which waits for the stop still running.
		c.started.Store(uint32(Service(c.started.Load()) &^ lvl))
	}
	return errors.Join(errs...)
}

// stopLevel calls the Stop of the transport or membership service for lvl, and records
// whether it returned an error once ctx had ended: its stop may still run. Guarded by mu.
func (c *coordinator) stopLevel(ctx context.Context, lvl Service) error {
	var err error
	if lvl&SvcMembership != 0 {
		err = c.mb.Stop(ctx, lvl)
	} else {
		err = c.tr.Stop(ctx, lvl)
	}
	if err != nil && ctx.Err() != nil {
		c.unfinished |= lvl
	} else {
		c.unfinished &^= lvl
	}
	return err
}

// awaitUnfinished calls the Stop of each level of svc whose last Stop ended with its ctx
// again, with ctx, so that the level's stop is over before the level starts again. It
// returns the first error: a level still stopping when ctx ended. Guarded by mu.
func (c *coordinator) awaitUnfinished(ctx context.Context, svc Service) error {
	for _, lvl := range []Service{SvcMembershipTx, SvcMembershipRx, SvcSender, SvcReceiver} {
		if svc&c.unfinished&lvl == 0 {
			continue
		}
		if err := c.stopLevel(ctx, lvl); err != nil {
			return fmt.Errorf("tribes: start %v: the stop of an earlier Stop has not finished: %w", lvl, err)
		}
	}
	return nil
}

// pending returns the levels whose last Stop ended with its ctx (see unfinished).
func (c *coordinator) pending() Service {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.unfinished
}

// updateLocal applies f to the local member (its address, domain or payload) and, with
// advertise, tells the membership service. A member f makes invalid (larger than a
// decoder accepts) is refused: the local member stays as it was and the error wraps
// ErrInvalidConfig and wire.ErrBadMember.
func (c *coordinator) updateLocal(f func(*Member), advertise bool) error {
	c.lmu.Lock()
	defer c.lmu.Unlock()
	m := c.local.Load().m
	f(&m)
	if err := m.Validate(); err != nil {
		return fmt.Errorf("%w: local member: %w", ErrInvalidConfig, err)
	}
	l := c.stamp(m)
	c.local.Store(l)
	if u, ok := c.mb.(LocalMemberUpdater); ok && advertise {
		u.UpdateLocalMember(l.m)
	}
	return nil
}
