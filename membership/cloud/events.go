package cloud

import (
	"context"

	"github.com/gotribes/tribes/channel"
)

// cloudEvent is a change for the membership listener l: m added or gone; done, if not
// nil, is closed once it went up (the last event of a change).
type cloudEvent struct {
	l     channel.MembershipListener
	m     channel.Member
	added bool
	done  chan struct{}
}

// queueLocked queues the events of a change for l, with evMu held, the members gone
// after those added: events queue in the order of the changes. It returns the channel
// closed once the last went up, nil if there is none.
func (s *Service) queueLocked(l channel.MembershipListener, added, gone []channel.Member) chan struct{} {
	if l == nil || len(added)+len(gone) == 0 {
		return nil
	}
	for _, m := range added {
		s.events = append(s.events, cloudEvent{l: l, m: m, added: true})
	}
	for _, m := range gone {
		s.events = append(s.events, cloudEvent{l: l, m: m})
	}
	done := make(chan struct{})
	s.events[len(s.events)-1].done = done
	return done
}

// deliverAndWait delivers the queued events outside evMu, unless another goroutine is
// delivering them, and then waits for done (nil: nothing to wait for) until ctx ends.
func (s *Service) deliverAndWait(ctx context.Context, done chan struct{}) error {
	if done == nil {
		return nil
	}
	s.deliver()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// deliver passes the queued events up, in order and one at a time, outside evMu, from one
// goroutine at a time: an event queued meanwhile, by the listener's own calls too (a
// channel Stop), goes up after the one under way, from the goroutine delivering it.
func (s *Service) deliver() {
	s.evMu.Lock()
	if s.delivering {
		s.evMu.Unlock()
		return
	}
	s.delivering = true
	s.evMu.Unlock()
	finished := false
	defer func() {
		if !finished { // a listener panicked: let the next change find a deliverer
			s.evMu.Lock()
			s.delivering = false
			s.evMu.Unlock()
		}
	}()
	for {
		s.evMu.Lock()
		if len(s.events) == 0 {
			s.events = nil
			s.delivering, finished = false, true
			s.evMu.Unlock()
			return
		}
		e := s.events[0]
		s.events[0] = cloudEvent{}
		s.events = s.events[1:]
		s.evMu.Unlock()
		func() {
			if e.done != nil {
				defer close(e.done)
			}
			if e.added {
				e.l.MemberAdded(e.m)
			} else {
				e.l.MemberDisappeared(e.m)
			}
		}()
	}
}
