package interceptors

import (
	"time"

	"github.com/gotribes/tribes/channel"
)

// What the non-blocking coordinator takes from the network, bounded: coordination
// messages of members only (isMember), the latest of each sender not a member yet held
// until it is one (hold), an inbox that coalesces and drops beyond InboxLimit (post), and
// a memory of members that failed the alive check (knownDead).

// heldCoordMessage is a coordination message whose sender was not a member when it arrived.
type heldCoordMessage struct {
	src channel.Member
	msg CoordinationMessage
	at  time.Time
}

// hold keeps cm from src, which is not a member, until the membership lists src
// (releaseHeld): a member that sees this one first may pass it the election token before
// this one's membership lists that member, and the token dropped would stall the
// election for WaitTimeout. One message is held per sender (the latest), for at most
// InboxLimit senders and maxQueuedViewMembers view members together: beyond, messages
// held for longer than WaitTimeout (their election is abandoned by then) make room, or
// the new one is dropped.
//
// The membership may list src between the caller's check and the hold, and the release
// its addition queued may have run already, finding nothing: so hold checks again once
// the message is held, and queues a release if src is a member now.
func (c *NonBlockingCoordinator) hold(src channel.Member, cm CoordinationMessage) {
	if !c.keep(src, cm) {
		return
	}
	if c.isMember(src) { // isMember takes c.mu: not held here
		c.post(coordEvent{kind: evRelease})
	}
}

// keep adds cm from src to the held messages and reports whether it did.
func (c *NonBlockingCoordinator) keep(src channel.Member, cm CoordinationMessage) bool {
	now := time.Now()
	k := src.Key()
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.running {
		return false
	}
	// full: no room for cm beside the others held, by senders or by view members.
	full := func() bool {
		views := len(cm.View)
		for hk, h := range c.held {
			if hk != k {
				views += len(h.msg.View)
			}
		}
		_, replaces := c.held[k]
		return !replaces && len(c.held) >= c.cfg.InboxLimit || views > maxQueuedViewMembers
	}
	if full() {
		for hk, h := range c.held {
			if now.Sub(h.at) > c.cfg.WaitTimeout {
				delete(c.held, hk)
			}
		}
		if full() {
			return false
		}
	}
	if c.held == nil {
		c.held = map[channel.MemberKey]heldCoordMessage{}
	}
	c.held[k] = heldCoordMessage{src: src.Clone(), msg: cm, at: now}
	return true
}

// releaseHeld queues the held messages whose senders are members now, and forgets those
// held for longer than WaitTimeout. Run goroutine only, once a member was added.
func (c *NonBlockingCoordinator) releaseHeld() {
	c.mu.Lock()
	if len(c.held) == 0 || !c.runningLocked(c.own) {
		c.mu.Unlock()
		return
	}
	cands := make([]heldCoordMessage, 0, len(c.held))
	for _, h := range c.held {
		cands = append(cands, h)
	}
	c.mu.Unlock()
	now := time.Now()
	for _, h := range cands {
		stale := now.Sub(h.at) > c.cfg.WaitTimeout
		if !stale && !c.isMember(h.src) { // isMember takes c.mu: not held here
			continue
		}
		k := h.src.Key()
		c.mu.Lock()
		if !c.runningLocked(c.own) { // the held messages are another run's now
			c.mu.Unlock()
			return
		}
		cur, ok := c.held[k]
		if ok && cur.at.Equal(h.at) { // not replaced by a newer message, nor queued, meanwhile
			c.unholdLocked(k, now)
		}
		wake := c.wake
		c.mu.Unlock()
		signal(wake)
	}
}

// unholdLocked takes the message held from the sender of key k out of the hold and queues
// it, unless it was held for longer than WaitTimeout (its election is abandoned by then).
// Taking it out and queueing it are one step under c.mu, so that a later message of that
// sender, queued by post under c.mu too, cannot come first. Caller holds c.mu.
func (c *NonBlockingCoordinator) unholdLocked(k channel.MemberKey, now time.Time) {
	h, ok := c.held[k]
	if !ok {
		return
	}
	delete(c.held, k)
	if now.Sub(h.at) > c.cfg.WaitTimeout {
		return
	}
	c.heldHandled.Add(1)
	c.recv.Add(1)
	c.enqueueLocked(coordEvent{kind: evMessage, from: k, msg: h.msg})
}

// post queues ev for the run goroutine. The inbox stays bounded whatever arrives: an
// election or heartbeat event already queued absorbs a new one, a message replaces a queued
// one from the same sender with the same election id, and messages beyond InboxLimit are
// dropped. A message of a sender whose earlier message is still held (the sender was not a
// member then; it is now) is queued behind that one: a sender's messages are handled in the
// order they came (TestNonBlockingCoordinatorHeldBeforeNewer).
func (c *NonBlockingCoordinator) post(ev coordEvent) {
	c.mu.Lock()
	if !c.running {
		c.mu.Unlock()
		return
	}
	if ev.kind == evMessage {
		c.unholdLocked(ev.from, time.Now())
	}
	c.enqueueLocked(ev)
	wake := c.wake
	c.mu.Unlock()
	signal(wake)
}

// enqueueLocked adds ev to the inbox unless coalesce merged or dropped it. Caller holds c.mu.
func (c *NonBlockingCoordinator) enqueueLocked(ev coordEvent) {
	if !c.coalesce(ev) {
		c.inbox = append(c.inbox, ev)
	}
}

// signal wakes the run goroutine, if it is not signalled already.
func signal(wake chan struct{}) {
	select {
	case wake <- struct{}{}:
	default:
	}
}

// coalesce merges ev into the inbox if it can, or drops it if the inbox is full, and
// reports whether it did either. Caller holds c.mu.
func (c *NonBlockingCoordinator) coalesce(ev coordEvent) bool {
	msgs, views, same := 0, 0, -1
	for i := range c.inbox {
		q := &c.inbox[i]
		if q.kind != ev.kind {
			continue
		}
		switch ev.kind {
		case evElect:
			q.force = q.force || ev.force
			return true
		case evHeartbeat, evRelease:
			return true
		case evMessage:
			if q.from == ev.from && q.msg.ID == ev.msg.ID {
				same = i
				continue
			}
			msgs++
			views += len(q.msg.View)
		}
	}
	if ev.kind != evMessage {
		return false
	}
	if (same < 0 && msgs >= c.cfg.InboxLimit) || views+len(ev.msg.View) > maxQueuedViewMembers {
		c.dropped.Add(1)
		return true
	}
	if same >= 0 {
		c.inbox[same] = ev
		return true
	}
	return false
}

// maxQueuedViewMembers bounds the members of the views of the coordination messages
// queued, and apart from them of those held: a message of the largest view
// (maxCoordViewMembers, 5 MB on the wire) takes 13 MB parsed, so InboxLimit such messages
// queued and as many held took 1.6 GB. Beyond it a message is dropped, as beyond
// InboxLimit: in a cluster of N members, at most maxQueuedViewMembers / N election
// messages are queued, fewer than the default InboxLimit above 1 024 members
// (TestNonBlockingCoordinatorQueuedMessagesByViewSize).
const maxQueuedViewMembers = maxCoordViewMembers

// isMember reports whether src is a member: in the coordinator's membership (the members
// below and those learnt from members' election messages) or known to the layer below,
// as the channel's check matches it (fromMember).
func (c *NonBlockingCoordinator) isMember(src channel.Member) bool {
	return fromMember(c, src) || fromMember(c.Next(), src)
}

// knownDead reports whether m failed the alive check less than DeadMemberTTL ago. Run
// goroutine only.
func (c *NonBlockingCoordinator) knownDead(m channel.Member) bool {
	until, ok := c.dead[m.Key()]
	if ok && time.Now().After(until) {
		delete(c.dead, m.Key())
		return false
	}
	return ok
}

// markDead remembers that m failed the alive check; the number remembered is bounded
// (expired entries are pruned first; beyond maxDeadMembers m is not remembered). Run
// goroutine only.
func (c *NonBlockingCoordinator) markDead(m channel.Member) {
	now := time.Now()
	if len(c.dead) >= maxDeadMembers {
		for k, until := range c.dead {
			if now.After(until) {
				delete(c.dead, k)
			}
		}
		if len(c.dead) >= maxDeadMembers {
			return
		}
	}
	c.dead[m.Key()] = now.Add(c.cfg.DeadMemberTTL)
}
