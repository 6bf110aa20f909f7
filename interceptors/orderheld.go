package interceptors

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/gotribes/tribes/channel"
)

// orderHeld is one sender's waiting messages, found three ways: by number (duplicates),
// lowest number first (release in order) and oldest first (expiry), so that neither a
// receipt nor a heartbeat looks at more than the messages it releases.
//
// Every number held comes after the sender's counter and less than 2³¹ after it, so serial
// order (before) is a total order on them however the counter moves.
type orderHeld struct {
	byNr    map[uint32]*orderEntry
	lowest  orderHeap     // the waiting messages, lowest number at the top
	arrived []*orderEntry // in order of arrival; released entries stay until they are at the front
	bytes   int           // of the waiting messages' data
	// cost is what the waiting messages count against OrderConfig.MaxHeldBytes (their
	// data plus orderEntryCost each), readable without the sender's lock; total is the sum
	// of every sender's cost (Order.held).
	cost  atomic.Int64
	total *atomic.Int64
}

// orderEntryCost is what a waiting message counts against OrderConfig.MaxHeldBytes
// besides its data: its envelope (channel.Message, id, source) and the queue's entries.
const orderEntryCost = 256

type orderEntry struct {
	msg *channel.Message // nil once released
	at  time.Time
	nr  uint32
}

// newOrderHeld returns an empty queue whose cost counts in total.
func newOrderHeld(total *atomic.Int64) orderHeld {
	return orderHeld{byNr: map[uint32]*orderEntry{}, total: total}
}

func (h *orderHeld) len() int { return len(h.byNr) }

func (h *orderHeld) has(nr uint32) bool { _, ok := h.byNr[nr]; return ok }

// add holds msg, number nr, arrived at (no earlier than the last one added).
func (h *orderHeld) add(msg *channel.Message, nr uint32, at time.Time) {
	e := &orderEntry{msg: msg, at: at, nr: nr}
	h.byNr[nr] = e
	heap.Push(&h.lowest, e)
	h.arrived = append(h.arrived, e)
	h.bytes += len(msg.Data)
	c := int64(len(msg.Data) + orderEntryCost)
	h.cost.Add(c)
	h.total.Add(c)
}

// first returns the lowest number held; ok is false when nothing waits.
func (h *orderHeld) first() (nr uint32, ok bool) {
	if len(h.lowest) == 0 {
		return 0, false
	}
	return h.lowest[0].nr, true
}

// take removes the lowest-numbered message and returns it with its number and arrival.
// Something must be held.
func (h *orderHeld) take() (msg *channel.Message, nr uint32, at time.Time) {
	e := heap.Pop(&h.lowest).(*orderEntry)
	delete(h.byNr, e.nr)
	msg, e.msg = e.msg, nil
	h.bytes -= len(msg.Data)
	c := int64(len(msg.Data) + orderEntryCost)
	h.cost.Add(-c)
	h.total.Add(-c)
	if len(h.arrived) > 2*len(h.byNr)+64 {
		h.compact()
	}
	return msg, e.nr, e.at
}

// highest returns the highest number held (a scan: only for releasing everything).
func (h *orderHeld) highest() uint32 {
	hi := h.lowest[0].nr
	for _, e := range h.lowest[1:] {
		if before(hi, e.nr) {
			hi = e.nr
		}
	}
	return hi
}

// expired forgets the messages that waited longer than expire by now, the oldest first, and
// returns how many there were and the highest number among them (the caller releases
// everything up to it).
func (h *orderHeld) expired(now time.Time, expire time.Duration) (n int, last uint32) {
	i := 0
	for ; i < len(h.arrived); i++ {
		e := h.arrived[i]
		if e.msg == nil {
			continue
		}
		if now.Sub(e.at) <= expire {
			break
		}
		if n == 0 || before(last, e.nr) {
			last = e.nr
		}
		n++
	}
	clear(h.arrived[:i])
	h.arrived = h.arrived[i:]
	return n, last
}

// compact drops the released entries from arrived.
func (h *orderHeld) compact() {
	kept := make([]*orderEntry, 0, 2*len(h.byNr))
	for _, e := range h.arrived {
		if e.msg != nil {
			kept = append(kept, e)
		}
	}
	h.arrived = kept
}

// relieve releases, while the messages waiting for all senders count MaxHeldBytes or
// more, the queue of the sender whose messages count the most, as a full queue of its
// own is released. One release brings them under the cap unless other receipts add
// meanwhile: the largest queue counts at least what the receipt that reached the cap
// added. Caller holds no sender's lock.
func (o *Order) relieve() {
	for o.held.Load() >= int64(o.cfg.MaxHeldBytes) {
		var big *orderIn
		var most int64
		o.inMu.Lock()
		for _, s := range o.in {
			if c := s.held.cost.Load(); c > most {
				big, most = s, c
			}
		}
		o.inMu.Unlock()
		if big == nil {
			return
		}
		big.mu.Lock()
		o.expire(big, time.Now()) // with DropExpired, what waited too long is dropped, not flushed
		if big.held.len() > 0 {
			o.heldFlushes.Add(1)
			o.releaseUpTo(big, big.held.highest(), time.Time{})
		}
		_ = o.drain(big, nil)
	}
}

// Start starts the levels below. A Start of the receiver begins a new run, whose held
// messages wait for the earlier ones of their sender: a release of held messages that a
// Stop made before it queued behind a delivery still running (a Start made from a
// listener the delivery calls, or once another Start or Stop waited for that Stop) does
// not run (TestOrderRestartFromTheListenerOfAReleasedMessageKeepsOrder). A delivery
// already running goes on with the messages it released, but the senders it reaches once
// the receiver started again keep theirs held, waiting for their gaps with those of the
// new run (TestOrderRestartDuringTheReleaseKeepsOtherSendersHeld). A Start that fails
// below Order starts no run: the receiver stays stopped (the channel stops the levels its
// failing Start started), so it is not counted and those releases run
// (TestOrderFailedStartIsNotARun); a release that ran while it was under way and kept a
// sender's messages held runs again once it failed
// (TestOrderReleaseDuringAFailingStartStillRuns); with no message held, none is queued
// (TestOrderFailedStartWithNothingHeldQueuesNoRelease).
func (o *Order) Start(ctx context.Context, svc channel.Service) error {
	if svc&channel.SvcReceiver == 0 {
		return o.Next().Start(ctx, svc)
	}
	// Counted before the receiver starts, so that a message of the new run finds it.
	o.rxStarts.Add(1)
	o.rxStopped.Store(false)
	err := o.Next().Start(ctx, svc)
	if err != nil {
		// Stopped before anyHeld looks: a message held after it looked at its sender is
		// released by its receiving goroutine (orderrecv.go), not stranded
		// (TestOrderMessageHeldOnAStoppedReceiverIsReleased).
		o.rxStopped.Store(true)
		// A release running meanwhile (a delivery left in the background) may have found
		// the count and kept a sender's messages held: release them on the stopped
		// receiver, after any delivery still running.
		// Nothing held, nothing to release: no release is queued
		// (TestOrderFailedStartWithNothingHeldQueuesNoRelease).
		run := o.rxStarts.Add(^uint64(0))
		if o.anyHeld() {
			o.relPending.Add(1)
			o.releases.Add(func() { o.releaseAll(run) })
			go o.releases.Run(nil)
		}
	}
	return err
}

// anyHeld reports whether a sender has messages waiting for earlier ones.
func (o *Order) anyHeld() bool {
	for _, s := range o.senders() {
		s.mu.Lock()
		n := s.held.len()
		s.mu.Unlock()
		if n > 0 {
			return true
		}
	}
	return false
}

// Stop stops the levels below. Once the receiver is stopped, the messages still waiting
// for earlier ones are released as when their sender disappears: no receipt or heartbeat
// would come to release them. Each sender's are delivered in order, the gaps skipped
// (with DropExpired, those that waited longer than Expire are dropped first); the counters
// are kept, so a receiver started again is in step with senders that did not see it go.
// A message that would wait once the receiver stopped (a delivery the transport's Stop did
// not wait for; after a Start that failed below Order too) is released at once the same
// way (TestOrderMessageHeldOnAStoppedReceiverIsReleased), unless the release of that Stop
// has still to reach its sender: it is left to that release, which keeps it held if the
// receiver started again meanwhile (TestOrderMessageInARestartWindowKeepsItsSendersGap).
// The delivery runs on a goroutine of its own, after any an earlier Stop left running, and
// is bounded by ctx, as the transport's receiver bounds what it drains: if ctx ends while
// a listener still takes one of those messages, Stop returns an error wrapping ctx's and
// the delivery goes on in the background. A listener taking one of those messages may
// stop or restart the channel, which waits for this Stop to return: once another Start or
// Stop of the channel waits for it (channel.LifecycleContended), Stop returns nil without
// waiting for the delivery, which goes on in the background
// (TestOrderStopFromTheListenerOfAMessageItReleases). A delivery left in the background
// either way leaves the receiver level stopping (channel.StillStopping, or the error once
// ctx ended), so that the channel's next Stop or Start of it calls this Stop again, and
// that one waits for the delivery, within its own ctx, on the same terms
// (TestOrderLaterStopWaitsForTheDeliveryOfAnEarlierOne), unless it is made from a
// listener the delivery calls, on its goroutine: that one waits for nothing and returns
// nil, the delivery going on once the listener returned; one such a listener hands to
// another goroutine and waits for waits until its ctx ends, and then returns an error
// wrapping ctx's (TestOrderStopHandedByAListenerToAGoroutineItWaitsFor).
//
// The released messages of a sender whose messages another goroutine is delivering (a
// receive goroutine whose listener still runs) are delivered by that goroutine, in order,
// once its listener returned, and no Stop waits for them: it may be made from that
// listener, which Order cannot tell
// (TestOrderStopLeavesAReleaseHandedToAReceiveGoroutine). The transport's Stop is what
// waits for its receive goroutines (transport/nio's, within ctx).
func (o *Order) Stop(ctx context.Context, svc channel.Service) error {
	err := o.Next().Stop(ctx, svc)
	if svc&channel.SvcReceiver == 0 {
		return err
	}
	// A message that would wait from now on is released by its receiving goroutine
	// (orderrecv.go), unless the release queued below has still to reach its sender;
	// those waiting now, by that release.
	o.relPending.Add(1)
	o.rxStopped.Store(true)
	released := make(chan struct{})
	run := o.rxStarts.Load()
	o.releases.Add(func() {
		defer close(released)
		o.releaseAll(run)
	})
	if o.releases.InCall() {
		// Made from a listener the delivery calls: its release goes up on this goroutine
		// once the listener returned.
		channel.StillStopping(ctx, channel.SvcReceiver)
		return err
	}
	go o.releases.Run(nil) // returns at once if an earlier Stop's delivery still runs
	select {
	case <-released:
		return err
	case <-channel.LifecycleContended(ctx):
		// The Start or Stop waiting may be a listener's, which cannot return before this
		// Stop does.
		select {
		case <-released:
		default:
			channel.StillStopping(ctx, channel.SvcReceiver)
		}
		return err
	case <-ctx.Done():
	}
	select {
	case <-released: // done as ctx ended
		return err
	default:
		return errors.Join(err, fmt.Errorf("tribes: order: the messages waiting when the receiver stopped are still being delivered (they go on in the background): %w", ctx.Err()))
	}
}

// releaseAll delivers what waits for every sender, in order, the gaps skipped, unless the
// receiver was started again since run (rxStarts): what waits then waits for its gaps.
// That is checked for each sender under its lock, since a listener the delivery calls may
// restart the channel: a sender reached after that keeps its messages held, those of the
// earlier run with those of the new one, released as on a running receiver (in order once
// the gap fills, or on expiry), so that none is delivered past a missing earlier one
// (TestOrderRestartDuringTheReleaseKeepsOtherSendersHeld). Messages of the new run reach
// a sender's state only after the Start that counted it, so a sender released before
// holds only the earlier run's.
//
// A message that would wait on the stopped receiver while this release has still to
// reach its sender is left to it, not released at once by its receiving goroutine
// (orderrecv.go), so that a restart before the release reaches the sender keeps it
// waiting for its gap too (TestOrderMessageInARestartWindowKeepsItsSendersGap). Once the
// release went over the senders it knew of when it began, it is no longer counted
// (relPending) and goes over those made meanwhile, which it has not reached: a message
// of one, held before that, is released by this second pass, one after it by its
// receiving goroutine.
func (o *Order) releaseAll(run uint64) {
	counted := true
	defer func() {
		if counted { // a listener panicked
			o.relPending.Add(-1)
		}
	}()
	if !o.releasePass(run, false) {
		return
	}
	counted = false
	o.relPending.Add(-1)
	o.releasePass(run, true)
}

// releasePass is one pass of releaseAll over the senders (with onlyNew, over those it has
// not reached yet); it reports false once the receiver started again since run.
func (o *Order) releasePass(run uint64, onlyNew bool) bool {
	if o.rxStarts.Load() != run {
		return false
	}
	senders := o.senders()
	now := time.Now()
	for _, s := range senders {
		s.mu.Lock()
		if o.rxStarts.Load() != run {
			s.mu.Unlock()
			return false
		}
		if onlyNew && s.relRun == run {
			s.mu.Unlock()
			continue
		}
		s.relRun = run
		o.expire(s, now)
		if s.held.len() > 0 {
			o.releaseUpTo(s, s.held.highest(), time.Time{})
		}
		_ = o.drain(s, nil)
	}
	return true
}

// orderHeap is a min-heap of entries by serial number (container/heap).
type orderHeap []*orderEntry

func (q orderHeap) Len() int           { return len(q) }
func (q orderHeap) Less(i, j int) bool { return before(q[i].nr, q[j].nr) }
func (q orderHeap) Swap(i, j int)      { q[i], q[j] = q[j], q[i] }
func (q *orderHeap) Push(x any)        { *q = append(*q, x.(*orderEntry)) }
func (q *orderHeap) Pop() any {
	old := *q
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*q = old[:len(old)-1]
	return e
}
