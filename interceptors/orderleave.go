package interceptors

import "github.com/gotribes/tribes/channel"

// A member's disappearance releases what its messages waited for, but the membership
// no longer lists it by then, and where the channel checks senders it would drop them as
// a non-member's. Each of those messages came from a member (a non-member's is never
// held there) and waited only for earlier ones: until they are delivered, Member still
// reports the member that left (orderIn.leaving).

// leave marks s, whose sender disappeared, as leaving: Member reports its sender until
// its released messages are delivered (endLeave). Caller holds s.mu, not o.inMu.
func (o *Order) leave(s *orderIn) {
	if s.leaving {
		return
	}
	s.leaving = true
	o.inMu.Lock()
	if o.leaving == nil {
		o.leaving = map[channel.MemberKey]*orderIn{}
	}
	o.leaving[s.src.Key()] = s
	o.nLeaving.Store(int32(len(o.leaving)))
	o.inMu.Unlock()
}

// endLeave forgets that s is leaving once nothing of it is left to deliver. Caller holds
// s.mu, not o.inMu.
func (o *Order) endLeave(s *orderIn) {
	if !s.leaving || s.delivering || len(s.ready) > 0 {
		return
	}
	s.leaving = false
	o.inMu.Lock()
	if k := s.src.Key(); o.leaving[k] == s {
		delete(o.leaving, k)
		o.nLeaving.Store(int32(len(o.leaving)))
	}
	o.inMu.Unlock()
}

// Member looks a member up below, or reports a sender that disappeared while the
// messages its disappearance released are being delivered.
func (o *Order) Member(key channel.MemberKey) (channel.Member, bool) {
	if m, ok := o.Next().Member(key); ok || o.nLeaving.Load() == 0 {
		return m, ok
	}
	o.inMu.Lock()
	defer o.inMu.Unlock()
	if s := o.leaving[key]; s != nil {
		return s.src, true
	}
	return channel.Member{}, false
}
