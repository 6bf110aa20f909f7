package interceptors

import (
	"time"

	"github.com/gotribes/tribes/channel"
)

// What the non-blocking coordinator takes from the network, bounded: coordination
// messages of members only (isMember), an inbox that coalesces and drops beyond
// InboxLimit (post), and a memory of members that failed the alive check (knownDead).

// post queues ev for the run goroutine. The inbox stays bounded whatever arrives: an
// election or heartbeat event already queued absorbs a new one, a message replaces a queued
// one from the same sender with the same election id, and messages beyond InboxLimit are
// dropped.
func (c *NonBlockingCoordinator) post(ev coordEvent) {
	c.mu.Lock()
	if !c.running {
		c.mu.Unlock()
		return
	}
	if !c.coalesce(ev) {
		c.inbox = append(c.inbox, ev)
	}
	wake := c.wake
	c.mu.Unlock()
	select {
	case wake <- struct{}{}:
	default:
	}
}

// coalesce merges ev into the inbox if it can, or drops it if the inbox is full, and
// reports whether it did either. Caller holds c.mu.
func (c *NonBlockingCoordinator) coalesce(ev coordEvent) bool {
	msgs := 0
	for i := range c.inbox {
		q := &c.inbox[i]
		if q.kind != ev.kind {
			continue
		}
		switch ev.kind {
		case evElect:
			q.force = q.force || ev.force
			return true
		case evHeartbeat:
			return true
		case evMessage:
			if q.from == ev.from && q.msg.ID == ev.msg.ID {
				*q = ev
				return true
			}
			msgs++
		}
	}
	if ev.kind == evMessage && msgs >= c.cfg.InboxLimit {
		c.dropped.Add(1)
		return true
	}
	return false
}

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
