package staticsvc

import (
	"time"

	"github.com/gotribes/tribes/channel"
)

// Hear and Leave do what a message from m does (a START with start, else a PING or a
// reply to this node's) and what its STOP does, in the order a test chooses (tests only).
func Hear(s *Service, m channel.Member, start bool) { s.heard(m, m, start, time.Time{}) }
func Leave(s *Service, m channel.Member)            { s.left(m) }

// HearAgo does what a START from m did ago before now: the next ping expires m when ago
// is past ExpirationTime, whatever the load (tests only).
func HearAgo(s *Service, m channel.Member, ago time.Duration) {
	s.heard(m, m, true, time.Time{})
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.view[m.Key()]; ok {
		e.heard = time.Now().Add(-ago)
	}
}

// QueuedEvents returns how many events wait for the membership listener (tests only).
func QueuedEvents(s *Service) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.evq)
}
