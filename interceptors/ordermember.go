package interceptors

import (
	"slices"
	"time"

	"github.com/gotribes/tribes/channel"
)

// Heartbeat releases messages that waited longer than Expire for senders that went quiet,
// and forgets the receive state of senders that are not members and sent nothing for
// orderForgetIdle, with nothing waiting.
func (o *Order) Heartbeat() {
	senders := o.senders()
	now := time.Now()
	for _, s := range senders {
		s.mu.Lock()
		o.expire(s, now)
		_ = o.drain(s, nil)
		s.mu.Lock()
		idle := s.idle(now)
		s.mu.Unlock()
		o.inMu.Lock()
		stranger := s.stranger
		o.inMu.Unlock()
		if !idle && !stranger {
			continue
		}
		if fromChannelMember(o, s.src) {
			if stranger { // a sender that joined: no longer counted among the strangers
				o.inMu.Lock()
				if s.stranger {
					s.stranger = false
					o.strangers--
				}
				o.inMu.Unlock()
			}
			continue
		}
		if !idle {
			continue
		}
		s.mu.Lock()
		if s.idle(now) { // nothing arrived meanwhile
			s.gone = true
			o.inMu.Lock()
			o.forget(s)
			o.inMu.Unlock()
		}
		s.mu.Unlock()
	}
	o.Next().Heartbeat()
}

// idle reports whether s may be forgotten: nothing waiting or being delivered, and no
// message for orderForgetIdle. Caller holds s.mu.
func (s *orderIn) idle(now time.Time) bool {
	return !s.gone && !s.delivering && s.held.len() == 0 && len(s.ready) == 0 && now.Sub(s.lastRecv) > orderForgetIdle
}

// MemberAdded gives a member added within orderForgetIdle of a stranger's message passed
// up without a state, and that has none, a state that starts its count at the member's
// first message (orderIn.adopt).
func (o *Order) MemberAdded(m channel.Member) {
	if at := o.overflowAt.Load(); at != 0 && time.Since(time.Unix(0, at)) < orderForgetIdle {
		k := m.Key()
		o.inMu.Lock()
		if o.in[k] == nil {
			src := channel.Member{Host: slices.Clone(m.Host), Port: m.Port, UniqueID: m.UniqueID}
			o.in[k] = &orderIn{next: 1, held: newOrderHeld(&o.held), src: src, adopt: true, lastRecv: time.Now()}
		}
		o.inMu.Unlock()
	}
	o.Prev().MemberAdded(m)
}

// MemberDisappeared delivers what the member's messages were waiting for, in order (Member
// reports m until then: see orderleave.go), and forgets both counters: a member that
// comes back starts again at 1.
func (o *Order) MemberDisappeared(m channel.Member) {
	o.outMu.Lock()
	delete(o.out, m.Key())
	o.outMu.Unlock()
	o.inMu.Lock()
	s := o.in[m.Key()]
	if s != nil {
		o.forget(s)
	}
	o.inMu.Unlock()
	if s != nil {
		s.mu.Lock()
		s.gone = true
		if s.held.len() > 0 || len(s.ready) > 0 {
			o.leave(s)
		}
		if s.held.len() > 0 {
			o.releaseUpTo(s, s.held.highest(), time.Time{})
		}
		_ = o.drain(s, nil)
	}
	o.Prev().MemberDisappeared(m)
}

// senders returns the receive states of every sender known, taken under o.inMu.
func (o *Order) senders() []*orderIn {
	o.inMu.Lock()
	defer o.inMu.Unlock()
	senders := make([]*orderIn, 0, len(o.in))
	for _, s := range o.in {
		senders = append(senders, s)
	}
	return senders
}
