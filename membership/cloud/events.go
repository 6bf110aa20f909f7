package cloud

import "github.com/gotribes/tribes/channel"

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
