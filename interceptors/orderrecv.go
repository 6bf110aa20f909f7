package interceptors

import (
	"fmt"
	"slices"
	"time"

	"github.com/gotribes/tribes/channel"
)

// before reports whether sequence number a comes before b (serial-number arithmetic, so
// that the 32-bit counters may wrap).
func before(a, b uint32) bool { return int32(a-b) < 0 }

// sender returns the receive state of m, made if needed; nil for a sender that is not a
// member, where non-members are not ordered (checked), once orderMaxStrangers of them
// have a state.
func (o *Order) sender(m channel.Member, checked bool) *orderIn {
	k := m.Key()
	o.inMu.Lock()
	s := o.in[k]
	o.inMu.Unlock()
	if s != nil {
		return s
	}
	stranger := checked && !fromChannelMember(o, m)
	o.inMu.Lock()
	defer o.inMu.Unlock()
	if s = o.in[k]; s != nil {
		return s
	}
	if stranger {
		if o.strangers >= orderMaxStrangers {
			o.overflowAt.Store(time.Now().UnixNano())
			return nil
		}
		o.strangers++
	}
	src := channel.Member{Host: slices.Clone(m.Host), Port: m.Port, UniqueID: m.UniqueID}
	s = &orderIn{next: 1, held: newOrderHeld(&o.held), src: src, stranger: stranger}
	o.in[k] = s
	return s
}

// forget removes s from the receive states. Caller holds o.inMu.
func (o *Order) forget(s *orderIn) {
	if k := s.src.Key(); o.in[k] == s {
		delete(o.in, k)
		if s.stranger {
			s.stranger = false
			o.strangers--
		}
	}
}

// MessageReceived strips the trailer and delivers msg once every earlier message of its
// sender was delivered (or given up on).
//
// A multicast (OptMulticast, which travels on the wire) carries no counter: it is passed
// up as it came, at once.
func (o *Order) MessageReceived(msg *channel.Message) error {
	if !o.OKToProcess(msg.Options) || msg.Options&channel.OptMulticast != 0 {
		return o.Prev().MessageReceived(msg)
	}
	data, nr, err := ParseOrderTrailer(msg.Data)
	if err != nil {
		o.short.Add(1)
		return fmt.Errorf("tribes: order: message %s from %s: %w", msg.IDString(), msg.Source.Addr(), err)
	}
	msg.Data = data
	checked := o.SendersChecked() && !o.cfg.AcceptNonMembers
	s := o.sender(msg.Source, checked)
	for s != nil {
		s.mu.Lock()
		if !s.gone {
			break
		}
		s.mu.Unlock()
		s = o.sender(msg.Source, checked)
	}
	if s == nil { // a non-member beyond orderMaxStrangers: never held, never recorded
		o.nonMember.Add(1)
		return o.Prev().MessageReceived(msg)
	}
	now := time.Now() // under s.mu: the held messages' arrivals are in order
	s.lastRecv = now
	if s.adopt { // its first message: see orderIn.adopt
		s.adopt = false
		if before(s.next, nr) {
			o.skipped.Add(uint64(nr - s.next))
			s.next = nr
		}
	}
	switch {
	case nr == s.next:
		s.ready = append(s.ready, msg)
		s.next++
		o.releaseConsecutive(s)
	case before(nr, s.next):
		// Its number was skipped when an expired message was released, or its sender
		// restarted its counter: deliver it, as Tomcat does whatever forwardExpired says.
		o.late.Add(1)
		s.ready = append(s.ready, msg)
	case checked && !fromChannelMember(o, msg.Source):
		// A non-member's message is dropped by the channel (or taken by a
		// NonMemberListener, unordered): never hold it. Its number is used up, so that
		// the earlier ones count as late and its sender, once a member, is in step.
		o.nonMember.Add(1)
		o.releaseUpTo(s, nr-1, time.Time{})
		s.ready = append(s.ready, msg)
		if !before(nr, s.next) {
			o.skipped.Add(uint64(nr - s.next))
			s.next = nr + 1
			o.releaseConsecutive(s)
		}
	default:
		if !s.held.has(nr) {
			s.held.add(msg, nr, now)
			o.reordered.Add(1)
		}
		o.expire(s, now) // first: what waited longer than Expire is dropped with DropExpired
		if s.held.len() >= o.cfg.MaxQueue || s.held.bytes >= o.cfg.MaxQueueBytes {
			o.flushes.Add(1)
			o.releaseUpTo(s, s.held.highest(), time.Time{})
		} else if o.rxStopped.Load() && s.held.len() > 0 && !o.releaseToCome(s) {
			// The receiver stopped (a delivery its transport's Stop did not wait for):
			// the release of its Stop or failed Start looked already, and no receipt or
			// heartbeat may come. Released as that release would have: in order, the
			// gaps skipped (TestOrderMessageHeldOnAStoppedReceiverIsReleased). One still
			// to reach s releases it, unless the receiver started again meanwhile
			// (TestOrderMessageInARestartWindowKeepsItsSendersGap).
			o.releaseUpTo(s, s.held.highest(), time.Time{})
		}
	}
	o.expire(s, now)
	err = o.drain(s, msg)
	if o.held.Load() >= int64(o.cfg.MaxHeldBytes) {
		o.relieve()
	}
	return err
}

// releaseToCome reports whether a release queued by a Stop or a failed Start has still to
// reach s (releaseAll). Caller holds s.mu.
func (o *Order) releaseToCome(s *orderIn) bool {
	return o.relPending.Load() > 0 && s.relRun != o.rxStarts.Load()
}

// releaseConsecutive moves held messages that are now next into ready. Caller holds s.mu.
func (o *Order) releaseConsecutive(s *orderIn) {
	for {
		if nr, ok := s.held.first(); !ok || nr != s.next {
			return
		}
		msg, _, _ := s.held.take()
		s.ready = append(s.ready, msg)
		s.next++
	}
}

// releaseUpTo gives up on the missing numbers up to last: every held message numbered up
// to last becomes ready in order, and the counter moves past last. With DropExpired and a
// non-zero now, a message that waited longer than Expire by then is dropped instead.
// Caller holds s.mu.
func (o *Order) releaseUpTo(s *orderIn, last uint32, now time.Time) {
	for {
		if nr, ok := s.held.first(); !ok || before(last, nr) {
			break
		}
		msg, nr, at := s.held.take()
		o.skipped.Add(uint64(nr - s.next))
		s.next = nr + 1
		if o.cfg.DropExpired && !now.IsZero() && now.Sub(at) > o.cfg.Expire {
			o.dropped.Add(1)
			continue
		}
		s.ready = append(s.ready, msg)
	}
	o.releaseConsecutive(s)
}

// expire releases everything up to the newest message that waited longer than Expire.
// Caller holds s.mu.
func (o *Order) expire(s *orderIn, now time.Time) {
	if n, last := s.held.expired(now, o.cfg.Expire); n > 0 {
		o.expired.Add(uint64(n))
		o.releaseUpTo(s, last, now)
	}
}

// drain delivers s.ready in order unless another goroutine already does; it returns the
// listener error for own (the message this goroutine received), if it delivered it.
// Caller holds s.mu; drain releases it.
func (o *Order) drain(s *orderIn, own *channel.Message) error {
	if s.delivering {
		s.mu.Unlock()
		return nil
	}
	s.delivering = true
	var ownErr error
	for len(s.ready) > 0 {
		batch := s.ready
		s.ready = nil
		s.mu.Unlock()
		for _, m := range batch {
			err := o.Prev().MessageReceived(m)
			o.delivered.Add(1)
			if m == own {
				ownErr = err
			} else if err != nil {
				o.upErrors.Add(1)
			}
		}
		s.mu.Lock()
	}
	s.delivering = false
	o.endLeave(s)
	s.mu.Unlock()
	return ownErr
}
