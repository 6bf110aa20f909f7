package staticsvc

import (
	"log/slog"
	"time"

	"github.com/gotribes/tribes/channel"
)

// The view's changes: members heard from, stopped, found faulty; each queued under the
// view's lock (update) and delivered to the channel's membership listener in order, on
// a goroutine of its own (deliver), so that no protocol goroutine waits for a listener.

// maxStopped bounds Service.stopped.
const maxStopped = 1024

// stopMemory is how long a member's STOP keeps its PINGs and replies from adding it again
// (Service.stopped): longer than such a message, sent before the STOP, can take to come.
func (s *Service) stopMemory() time.Duration { return max(10*time.Second, 2*s.cfg.RPCTimeout) }

// heard records that m is alive, from a START (start) or another message from the
// sender from: a new member is added, a known one refreshed; nothing is while the
// member protocol does not run (TestHeardAfterStopAddsNothing). A member that sent a STOP
// less than stopMemory ago is added again only by a START, or by a reply to a request
// this node sent after it recorded that STOP (replyTo, when the request was sent; zero
// if the message answers none): a stopping node closes its RPC channel before it sends
// its STOP, so such a reply comes from its next run (TestReplyToStartAfterStopAddsMember).
// A member over the size
// limits is ignored, and so is a new one once Config.MaxMembers are kept: both are
// counted and logged rate-limited per sender.
func (s *Service) heard(from, m channel.Member, start bool, replyTo time.Time) {
	if len(m.Payload) > s.cfg.MaxPayloadSize || len(m.Domain) > MaxNameSize || len(m.Command) > MaxNameSize {
		s.oversized.Add(1)
		s.rl.LogFunc(slog.LevelWarn, from.Addr(), "oversized member", "tribes static membership: ignoring a member over the size limits",
			func() []any {
				return []any{"member", m.String(), "payload", len(m.Payload), "domain", len(m.Domain), "command", len(m.Command),
					"maxPayloadSize", s.cfg.MaxPayloadSize}
			})
		return
	}
	s.update(func(now time.Time) (added, gone []channel.Member) {
		// Checked here, under the lock Stop clears the view with: a message handled as
		// Stop runs (a heartbeat's PING under way, a request rpc.Close did not wait for)
		// must not add a member after Stop reported them all gone.
		if s.run == nil || m.Equal(s.local) {
			return nil, nil
		}
		if at, ok := s.stopped[m.UniqueID]; ok {
			later := start || (!replyTo.IsZero() && replyTo.After(at))
			if !later && now.Sub(at) < s.stopMemory() {
				return nil, nil
			}
			delete(s.stopped, m.UniqueID)
		}
		k := m.Key()
		if e, ok := s.view[k]; ok {
			e.m, e.heard = m, now
			return nil, nil
		}
		if len(s.view) >= s.cfg.MaxMembers {
			s.overLimit.Add(1)
			s.rl.LogFunc(slog.LevelWarn, from.Addr(), "too many members", "tribes static membership: ignoring a new member: MaxMembers reached",
				func() []any { return []any{"member", m.String(), "maxMembers", s.cfg.MaxMembers} })
			return nil, nil
		}
		s.view[k] = &entry{m: m, heard: now}
		return []channel.Member{m}, nil
	})
}

// left removes m (a STOP) and keeps it from being added again.
func (s *Service) left(m channel.Member) {
	s.update(func(now time.Time) (added, gone []channel.Member) {
		if m.UniqueID != (channel.UniqueID{}) {
			if s.stopped == nil || len(s.stopped) >= maxStopped {
				s.stopped = map[channel.UniqueID]time.Time{}
			}
			s.stopped[m.UniqueID] = now
		}
		if _, ok := s.view[m.Key()]; ok {
			delete(s.view, m.Key())
			gone = append(gone, m)
		}
		return nil, gone
	})
}

// dropFaulty removes the members at the addresses a send failed for.
func (s *Service) dropFaulty(faulty []channel.FaultyMember) {
	if len(faulty) == 0 {
		return
	}
	s.update(func(time.Time) (added, gone []channel.Member) {
		for _, f := range faulty {
			for k, e := range s.view {
				if e.m.Port == f.Member.Port && e.m.IP() == f.Member.IP() {
					gone = append(gone, e.m)
					delete(s.view, k)
				}
			}
		}
		return nil, gone
	})
}

// memberEvent is a change of the view for the membership listener l; done, if set, is
// closed once it was delivered.
type memberEvent struct {
	l     channel.MembershipListener
	m     channel.Member
	added bool
	done  chan struct{}
}

// update changes the view under the lock and queues its events, in the order of the
// changes, for deliver; it does not wait for them.
func (s *Service) update(f func(now time.Time) (added, gone []channel.Member)) {
	s.updateThen(nil, f)
}

// updateThen is update, closing done (if not nil) once the events were delivered.
func (s *Service) updateThen(done chan struct{}, f func(now time.Time) (added, gone []channel.Member)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	added, gone := f(time.Now())
	s.snapshotLocked()
	for _, m := range gone {
		s.evq = append(s.evq, memberEvent{l: s.l, m: m})
	}
	for _, m := range added {
		s.evq = append(s.evq, memberEvent{l: s.l, m: m, added: true})
	}
	if done != nil {
		s.evq = append(s.evq, memberEvent{done: done})
	}
	if len(s.evq) >= max(minEvqLimit, s.evqLimit) {
		s.evq = coalesce(s.evq)
		s.evqLimit = 2 * len(s.evq)
	}
	if len(s.evq) > 0 && !s.delivering {
		s.delivering = true
		go s.deliver()
	}
}

// minEvqLimit is the least length of Service.evq that has it coalesced.
const minEvqLimit = 64

// coalesce returns q with each member's events (by key) reduced to what the listener
// needs, for a queue that grew while the listener was held or slow: each member's events
// alternate (a member is added only when not in the view, reported gone only when in it),
// so its first pending event says what the listener was told of it before (gone: that it
// is present) and its last one what the view holds now. A member whose two states differ
// keeps its last event alone (its latest Member); one present in both that left and came
// back meanwhile keeps its first event (gone) and its last (added, its latest Member), so
// that the listener knows it went away; one absent from both (a member that came and went
// while the listener was held, such as a stranger's unique ids) keeps none: the listener
// was never told of it. The kept events take the place of the member's first one, so
// that a Start's or Stop's wait (done) still follows the events queued before it; the
// other events and the waits keep their order. What is kept is at most one event per
// member in the view now or in the one the listener was last told, and twice that for
// members in both, each view bounded by Config.MaxMembers: so the queue, coalesced each
// time it doubles (at least minEvqLimit), stays within about 4 × MaxMembers events
// (TestHeldListenerEventQueueStaysBounded).
func coalesce(q []memberEvent) []memberEvent {
	type span struct{ first, last int }
	spans := make(map[channel.MemberKey]span, len(q))
	for i, e := range q {
		if e.done != nil {
			continue
		}
		k := e.m.Key()
		if sp, ok := spans[k]; ok {
			sp.last = i
			spans[k] = sp
		} else {
			spans[k] = span{i, i}
		}
	}
	out := make([]memberEvent, 0, len(q))
	for i, e := range q {
		if e.done != nil {
			out = append(out, e)
			continue
		}
		sp := spans[e.m.Key()]
		if sp.first != i {
			continue
		}
		first, last := q[sp.first], q[sp.last]
		switch wasPresent := !first.added; {
		case wasPresent != last.added:
			out = append(out, last)
		case wasPresent && sp.first != sp.last:
			out = append(out, first, last)
		}
	}
	clear(q)
	return out
}

// deliver calls the membership listener with the queued events, one at a time and in
// order, until none is left.
func (s *Service) deliver() {
	for {
		s.mu.Lock()
		if len(s.evq) == 0 {
			s.evq = nil
			s.delivering = false
			s.mu.Unlock()
			return
		}
		e := s.evq[0]
		s.evq[0] = memberEvent{}
		s.evq = s.evq[1:]
		s.mu.Unlock()
		switch {
		case e.l == nil && e.done == nil:
		case e.done != nil:
			close(e.done)
		case e.added:
			s.log.Info("tribes static membership: member added", "member", e.m.String())
			s.calling.Store(true)
			e.l.MemberAdded(e.m)
			s.calling.Store(false)
		default:
			s.log.Info("tribes static membership: member gone", "member", e.m.String())
			s.calling.Store(true)
			e.l.MemberDisappeared(e.m)
			s.calling.Store(false)
		}
	}
}
