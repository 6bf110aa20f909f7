package cloud

import (
	"log/slog"

	"github.com/gotribes/tribes/channel"
)

// queueLocked queues the events of a change for l, with evMu held, the members gone
// after those added: events queue in the order of the changes (Service.events runs them
// outside evMu). It returns the channel closed once the last went up, nil if there is
// none.
func (s *Service) queueLocked(l channel.MembershipListener, added, gone []channel.Member) chan struct{} {
	if l == nil || len(added)+len(gone) == 0 {
		return nil
	}
	done := make(chan struct{})
	n := len(added) + len(gone)
	for i := range n {
		isAdded := i < len(added)
		var m channel.Member
		if isAdded {
			m = added[i]
		} else {
			m = gone[i-len(added)]
		}
		last := i == n-1
		s.events.Add(func() {
			if last {
				defer close(done)
			}
			if isAdded {
				l.MemberAdded(m)
			} else {
				l.MemberDisappeared(m)
			}
		})
	}
	return done
}

// queueSenderLocked queues the MemberAdded of m, a sender that became a member
// (sawSender), for l, with evMu held; it reports whether it queued it. Nothing waits for
// it, and it goes up on whichever goroutine delivers the service's events when its turn
// comes (the service's own, or that of a change under way: Start, a heartbeat, Stop), so
// a listener's panic in it is logged (rate-limited) there instead of coming out of that
// goroutine, and the events after it still go up on it
// (TestSenderEventPanicIsLoggedOnAnyGoroutine).
func (s *Service) queueSenderLocked(l channel.MembershipListener, m channel.Member) bool {
	if l == nil {
		return false
	}
	s.events.Add(func() {
		defer func() {
			if p := recover(); p != nil {
				s.logListenerPanic(p)
			}
		}()
		l.MemberAdded(m)
	})
	return true
}

// queueMarkLocked queues, with evMu held, a call that closes the channel it returns: it
// is closed once every event queued before it went up (Stop's wait when it reports no
// member gone).
func (s *Service) queueMarkLocked() chan struct{} {
	done := make(chan struct{})
	s.events.Add(func() { close(done) })
	return done
}

// runEvents runs the queued events on a goroutine of its own (sawSender's: not on the
// transport's receive path), until none is left or another goroutine runs them. A
// listener's panic, in the event of another change that this goroutine delivers, is
// logged (rate-limited) instead of ending the process, and the events after it still go
// up (a sender's event logs its own: queueSenderLocked).
func (s *Service) runEvents() {
	for !s.runEventsOnce() {
	}
}

// runEventsOnce runs the queue once; it reports false if a call panicked.
func (s *Service) runEventsOnce() (finished bool) {
	defer func() {
		if p := recover(); p != nil {
			s.logListenerPanic(p)
		}
	}()
	s.events.Run(nil)
	return true
}

func (s *Service) logListenerPanic(p any) {
	s.rl.Log(slog.LevelError, "listener", "listener panic", "tribes cloud membership: the membership listener panicked", "panic", p)
}
