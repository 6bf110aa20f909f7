package channel

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// The channel's lifecycle: Start and Stop under the lifecycle semaphore, the heartbeat,
// and WaitForMembers, which Stop wakes.

// Start starts the given levels (SvcAll for everything) and the heartbeat. Levels already
// running are an error (ErrAlreadyStarted) only if nothing else was asked. If ctx ends
// while another Start or Stop runs, or before the levels start, Start returns its error
// and starts nothing (TestStartHonoursContextWhileStopRuns). A level whose last Stop gave
// up when its ctx ended (see Stop) is first stopped again with ctx, down the chain, which
// waits for the stop still running, so that the level does not start alongside it; if
// ctx ends first, Start returns an error wrapping ctx's and starts nothing
// (TestStartAfterATimedOutStopWaitsForIt,
// TestStartAfterAnInterceptorsTimedOutStopWaitsForIt).
//
// If starting fails, the levels this call started are stopped again, those an interceptor
// started in an earlier call of its own included
// (TestFailedStartStopsWhatAnInterceptorStartedBefore), and the transport or membership
// level whose Start failed, which the transport or service may have started
// (membership/static when its ctx ended before its events went up,
// TestFailedStartStopsTheMembershipLevelThatFailed; a transport that bound its listener
// before failing, TestFailedStartStopsTheTransportLevelThatFailed), and the error is
// returned. That stop ends with ctx if ctx is still live when starting fails, and 5
// seconds after it failed in any case (when ctx had ended, the levels still get those 5
// seconds to stop, TestFailedStartWithAnEndedContextStillStopsItsLevels). The whole undo
// shares that one bound: the coordinator's stop of the levels of its failing call, the
// channel's of those an interceptor started earlier, after them, and an interceptor's own
// stop made with FailedStartContext, so that the undo takes no more than those 5 seconds,
// or ctx (TestFailedStartUndoSharesOneBound). A failed Start thus returns within 5
// seconds of starting failing. Starting fails no later than ctx's end when the
// interceptors, the transport and the membership service honour ctx, but a start that
// fails because ctx ended (membership/static returns ctx's error with its level running)
// leaves the undo its 5 seconds all the same: the worst case of a failed Start is its ctx
// plus 5 seconds (TestFailedStartTakesUpToItsContextPlusTheUndoBound). A level not stopped in time is
// left stopping, the error also wraps the stop's (context.DeadlineExceeded, or ctx's),
// and a later Stop or Start of that level waits for it as after a Stop whose ctx ended
// (TestFailedStartStopsWithinABoundedContext): when the undo ran out of that bound, the
// levels this call was to start are remembered, whichever stop of the undo gave up (an
// interceptor's own included), and the next Stop calls the chain's Stop again for them
// (interceptors' TestStopAgainReachesAFailedStartsTimedOutUndo).
func (c *Channel) Start(ctx context.Context, svc Service) error {
	if svc&^SvcAll != 0 || svc == 0 {
		return fmt.Errorf("%w: unknown start levels %d", ErrInvalidConfig, svc)
	}
	h, err := c.lock(ctx)
	if err != nil {
		return fmt.Errorf("tribes: start: waiting for another Start or Stop: %w", err)
	}
	defer c.unlock()
	ctx = context.WithValue(ctx, lifeKey{}, h)
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("tribes: start: %w", err)
	}
	todo := svc &^ c.started
	if todo == 0 {
		return fmt.Errorf("%w: %v", ErrAlreadyStarted, svc)
	}
	if p := todo & c.pending(); p != 0 {
		if err := c.stopChain(ctx, p); err != nil {
			return fmt.Errorf("tribes: start %v: the stop of an earlier Stop has not finished: %w", p, err)
		}
	}
	ctx = withUndoBound(ctx) // one bound for every stop of a failed start's undo
	if err := c.head.Start(ctx, todo); err != nil {
		// Levels an interceptor's undo said it left stopping (StillStopping), read before
		// the stop below resets the mark (TestStillStoppingFromAFailedStart).
		c.unfinished |= todo & Service(h.left.Swap(0))
		// The coordinator stopped the levels of its call that failed. An interceptor that
		// starts the levels below it in several calls (interceptors.StaticMembership: the
		// transport's first) may have left those of an earlier call running: they are
		// stopped here, through the chain, within the bound the coordinator's stop fixed.
		left := c.Started() &^ c.started
		if undoEnded(ctx) {
			// A stop of the undo made down the chain (the coordinator's, an interceptor's
			// own: StaticMembership's announcers) ran out of the bound: its error came
			// once its ctx had ended, as in stopChain, and it may still be stopping.
			c.unfinished |= todo &^ left
		}
		if left != 0 {
			uctx, cancel := FailedStartContext(ctx)
			serr := c.stopChain(uctx, left)
			cancel()
			if serr != nil {
				err = errors.Join(err, fmt.Errorf("tribes: start: stopping the levels it started: %w", serr))
			}
		}
		if c.started == 0 {
			c.wakeWaiters() // levels started meanwhile were stopped again
		}
		return err
	}
	c.started |= todo
	if c.hbStop == nil && c.hbInt > 0 {
		hctx, cancel := context.WithCancel(context.Background())
		c.hbStop = cancel
		go c.heartbeatLoop(hctx)
	}
	lm := c.LocalMember()
	c.log.Info("tribes channel started", "levels", todo.String(), "member", lm.String())
	return nil
}

// Stop stops the given levels that are running; stopping stopped levels is a no-op. When no
// level is left the heartbeat stops too: no heartbeat begins after Stop returns, but one
// under way is not waited for, as Tribes cancels its heartbeat without waiting: it may be
// the caller (a Heartbeater or an interceptor's Heartbeat that stops the channel,
// TestStopFromHeartbeat). It returns every error met; the levels are considered stopped
// regardless. Start and Stop calls waiting for another run in the order they came
// (TestLifecycleWaitersServedInOrder). If ctx ends while another Start or Stop runs, Stop
// returns its error and stops nothing; once it runs, the levels stop however ctx ends (ctx bounds what they
// drain). The ctx it passes down the chain tells an interceptor when another Start or
// Stop waits for it (LifecycleContended), and so does Start's.
//
// A level whose Stop down the chain returned an error once ctx had ended, or whose failed
// Start's undo ran out of its bound (see Start), may still be stopping in the background: an interceptor's goroutines (interceptors.StaticMembership,
// TCPPing, NonBlockingCoordinator, TCPFailureDetector), a transport or membership service
// (transport/nio's receiver, membership/staticsvc's ping goroutine, membership/mcast's
// listener calls). A later Stop of that level calls the chain's Stop again for it with its
// own ctx, after stopping the running levels, and the coordinator calls the service's
// Stop again if that one was left stopping: they wait there for the stop still running,
// and when ctx ends first Stop returns an error wrapping ctx's again, so that a caller
// learns the stop has not finished (TestStopAgainWaitsForATimedOutStop,
// TestStopAgainReachesAnInterceptorsTimedOutStop). So is a level an interceptor's Stop
// said it left stopping (StillStopping), though Stop returned nil. Once such a Stop
// returned nil, or an error while its ctx was still live, and no interceptor said so
// again, the level is stopped and stopping it is a no-op.
func (c *Channel) Stop(ctx context.Context, svc Service) error {
	h, err := c.lock(ctx)
	if err != nil {
		return fmt.Errorf("tribes: stop: waiting for another Start or Stop: %w", err)
	}
	defer c.unlock()
	ctx = context.WithValue(ctx, lifeKey{}, h)
	todo := svc & c.started
	// Levels an earlier Stop left stopping (its ctx ended first): the chain's Stop is
	// called again for them, after the running levels stopped.
	pending := svc & c.pending() &^ todo
	if todo == 0 {
		if pending == 0 {
			return nil
		}
		return c.stopChain(ctx, pending)
	}
	err = c.stopChain(ctx, todo)
	if pending != 0 {
		err = errors.Join(err, c.stopChain(ctx, pending))
	}
	c.started &^= todo
	if c.started == 0 {
		c.health.Clear()
		c.wakeWaiters()
		c.rlog.Flush() // the counts of the lines kept back, which no later line may report
	}
	if c.started == 0 && c.hbStop != nil {
		// The heartbeat goroutine checks its context under hbMu before each beat, so no
		// beat begins after this cancel. One under way is not waited for: it may be the
		// one calling Stop.
		c.hbStop()
		c.hbStop = nil
	}
	c.log.Info("tribes channel stopped", "levels", todo.String())
	return err
}

// stopChain stops svc down the chain and records whether that Stop returned an error once
// ctx had ended: an interceptor, the transport or the membership service may still be
// stopping. Under the lifecycle semaphore.
func (c *Channel) stopChain(ctx context.Context, svc Service) error {
	h, _ := ctx.Value(lifeKey{}).(*lifeHold)
	if h != nil {
		h.left.Store(0)
	}
	err := c.head.Stop(ctx, svc)
	if err != nil && ctx.Err() != nil {
		c.unfinished |= svc
	} else {
		c.unfinished &^= svc
	}
	if h != nil {
		c.unfinished |= svc & Service(h.left.Swap(0)) // StillStopping
	}
	return err
}

// pending returns the levels an earlier Stop left stopping: its Stop down the chain gave
// up when its ctx ended, a failed Start's undo ran out of its bound, or the coordinator's
// stop did within such an undo. Under the lifecycle semaphore.
func (c *Channel) pending() Service { return c.unfinished | c.coord.pending() }

// lifeHold is one hold of the lifecycle semaphore, by a Start or a Stop.
type lifeHold struct {
	once      sync.Once
	contended chan struct{} // closed once another Start or Stop waits for this one
	left      atomic.Uint32 // the levels an interceptor's Stop left stopping (StillStopping)
}

type lifeKey struct{}

// LifecycleContended returns a channel closed once another Channel.Start or Channel.Stop
// waits for the Start or Stop whose ctx this is (Channel.Start and Channel.Stop pass it
// down the chain with it), or nil (never closed) for a ctx that comes from neither. An
// interceptor whose Stop waits for calls up the stack it made (callbacks, listeners),
// which may themselves start or stop the channel and so wait for that Stop to return,
// stops waiting for them when it closes, rather than waiting for ever
// (TestLifecycleContended; interceptors' TestDispatchStopFromTheCallbackOfAMessageItSends).
// Another goroutine's Start or Stop closes it too: which one waits cannot be told. A
// Start or Stop whose ctx had ended returns ctx's error without waiting, and does not
// close it (TestLifecycleNotContendedByAnEndedContext). It speaks of the Start or Stop
// under way only: a ctx kept after that returned (by a callback, a goroutine) has a
// channel that a later Start or Stop does not close, and a Start or Stop made with such a
// ctx passes down its own (TestLifecycleContendedOfAKeptContext).
func LifecycleContended(ctx context.Context) <-chan struct{} {
	if h, _ := ctx.Value(lifeKey{}).(*lifeHold); h != nil {
		return h.contended
	}
	return nil
}

// lifeWaiter is a Start or Stop waiting for the lifecycle semaphore, in c.waiters.
type lifeWaiter struct {
	granted chan *lifeHold // receives its hold when the semaphore is handed to it
}

// StillStopping tells the Channel.Stop or Channel.Start whose ctx this is (they pass it
// down the chain with it) that the interceptor's Stop calling it returns before svc has
// finished stopping, something of it going on in the background (Order's delivery of the
// messages it released, once another Start or Stop waits for it): the channel then takes
// svc as left stopping, as after a Stop whose ctx ended, and its next Stop of svc, or
// Start of it before starting it, calls the chain's Stop again for svc, so that the
// interceptor may wait there for what still runs
// (TestStillStopping; interceptors' TestOrderLaterStopWaitsForTheDeliveryOfAnEarlierOne).
// It does nothing with a ctx that comes from neither, or that a Start or Stop that
// returned passed down.
func StillStopping(ctx context.Context, svc Service) {
	if h, _ := ctx.Value(lifeKey{}).(*lifeHold); h != nil {
		h.left.Or(uint32(svc))
	}
}

// lock takes the lifecycle semaphore, or returns ctx's error if ctx ends first. A free
// semaphore is taken whatever ctx, so that Stop with an ended context still stops. Calls
// that wait are served in the order they came: the semaphore is handed from one hold to
// the first waiting, never left free for a later call to take first
// (TestLifecycleWaitersServedInOrder). While it waits, the hold it waits for is told so
// (LifecycleContended), and a hold handed on while others still wait is told at once;
// with an ended ctx it does not wait, and tells nothing.
func (c *Channel) lock(ctx context.Context) (*lifeHold, error) {
	c.hmu.Lock()
	select {
	case c.life <- struct{}{}:
		h := newLifeHold()
		c.hold = h
		c.hmu.Unlock()
		return h, nil
	default:
	}
	h := c.hold
	if err := ctx.Err(); err != nil {
		c.hmu.Unlock()
		return nil, err // no wait: the hold is not told (TestLifecycleNotContendedByAnEndedContext)
	}
	w := &lifeWaiter{granted: make(chan *lifeHold, 1)}
	c.waiters = append(c.waiters, w)
	h.contend() // under hmu: h is still the hold, not one already released
	c.hmu.Unlock()
	select {
	case nh := <-w.granted:
		return nh, nil
	case <-ctx.Done():
	}
	c.hmu.Lock()
	defer c.hmu.Unlock()
	if i := slices.Index(c.waiters, w); i >= 0 {
		c.waiters = slices.Delete(c.waiters, i, i+1)
		return nil, ctx.Err()
	}
	<-w.granted // handed over as ctx ended: on to the next, or freed
	c.releaseLocked()
	return nil, ctx.Err()
}

func newLifeHold() *lifeHold { return &lifeHold{contended: make(chan struct{})} }

// contend tells h that another Start or Stop waits for it.
func (h *lifeHold) contend() { h.once.Do(func() { close(h.contended) }) }

func (c *Channel) unlock() {
	c.hmu.Lock()
	c.releaseLocked()
	c.hmu.Unlock()
}

// releaseLocked ends the hold: the semaphore goes to the first waiting Start or Stop,
// with a new hold, or is freed. Under hmu.
func (c *Channel) releaseLocked() {
	if len(c.waiters) == 0 {
		c.hold = nil
		<-c.life
		return
	}
	w := c.waiters[0]
	c.waiters[0] = nil
	c.waiters = c.waiters[1:]
	nh := newLifeHold()
	if len(c.waiters) > 0 {
		nh.contend() // the others wait for this one now
	}
	c.hold = nh
	w.granted <- nh
}

// wakeWaiters wakes the WaitForMembers calls under way: no level runs any more.
func (c *Channel) wakeWaiters() {
	c.smu.Lock()
	close(c.stopped)
	c.stopped = make(chan struct{})
	c.smu.Unlock()
}

// Started returns the levels that are running. It takes no lock, so listeners may call it
// while Start or Stop is delivering events.
func (c *Channel) Started() Service { return Service(c.coord.started.Load()) }

func (c *Channel) heartbeatLoop(ctx context.Context) {
	t := time.NewTicker(c.hbInt)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if !c.beat(ctx) {
				return
			}
		}
	}
}

// beat runs one heartbeat for the heartbeat goroutine of ctx, unless ctx ended: a Stop
// came, and the beat of a goroutine a later Start began is not run alongside this one.
func (c *Channel) beat(ctx context.Context) bool {
	c.hbMu.Lock()
	defer c.hbMu.Unlock()
	if ctx.Err() != nil {
		return false
	}
	c.Heartbeat()
	return true
}

// Heartbeat runs one heartbeat now: down the chain, then on every message listener and
// every membership listener that implements Heartbeater (as Tribes, a listener registered
// both ways is called twice). The channel calls it every HeartbeatInterval by itself.
func (c *Channel) Heartbeat() {
	c.head.Heartbeat()
	tell(c, Heartbeater.Heartbeat)
}

// WaitForMembers blocks until at least n other members are known (Members), or ctx ends
// (its error is returned, wrapped with how many were known). A membership that needs a
// moment to see its peers (multicast heartbeats, a failure detector) is settled this way
// before a decision that depends on who is there. On a channel with no level started
// (never started, or stopped) it returns an error wrapping ErrNotStarted at once, and
// when the channel stops while it waits (TestWaitForMembersWokenByStop), a failed Start
// that stopped again what it had started included (TestWaitForMembersWokenByFailedStart).
func (c *Channel) WaitForMembers(ctx context.Context, n int) error {
	changed := make(chan struct{}, 1)
	poke := func(Member) {
		select {
		case changed <- struct{}{}:
		default:
		}
	}
	remove := c.AddMembershipListener(MembershipFuncs{Added: poke, Disappeared: poke})
	defer remove()
	c.smu.Lock()
	stopped := c.stopped // taken before the check below: a Stop after it closes this one
	c.smu.Unlock()
	for {
		have := len(c.Members())
		if have >= n {
			return nil
		}
		if c.Started() == 0 {
			return fmt.Errorf("%w: waiting for %d members, %d known, on a channel not running", ErrNotStarted, n, have)
		}
		select {
		case <-changed:
		case <-stopped:
			// The check above returns now, unless the channel was started again: then
			// the next Stop closes the one that replaced it.
			c.smu.Lock()
			stopped = c.stopped
			c.smu.Unlock()
		case <-ctx.Done():
			return fmt.Errorf("tribes: waiting for %d members, %d known: %w", n, have, ctx.Err())
		}
	}
}
