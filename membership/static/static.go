package static

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/callq"
	"github.com/gotribes/tribes/wire"
)

// Service is a MembershipService over a fixed list of members. Every configured member
// other than the local one is a member from the moment the membership-rx level starts
// until it stops; liveness is left to interceptors such as the TCP failure detector.
// It sends nothing on the network, so it works with Java nodes that list the Go node the
// same way (or that only answer its messages).
//
// Membership events are delivered one at a time and in the order of the changes, outside
// the service's locks: Start, Stop, Add and Remove return once the listener has been told
// of their change, or when their ctx ends: they then return an error wrapping ctx's, and
// the events are still delivered, in order. The goroutine of a change delivers its
// events, and the events queued meanwhile by other changes, unless another one is
// delivering: then that one delivers them after the event under way. So a listener may
// stop or restart the channel: its Stop or Start, on the goroutine delivering the events,
// waits for none of them and returns nil, the members it reports gone or announces going
// up once the listener returned (TestChannelStopFromAListenerReturns,
// TestRestartFromTheListenerReturns); Add and Remove from the listener wait until their
// ctx ends. A listener that panics panics the call delivering its event, which may be
// another change's than the event's own; a change waiting meanwhile for its events then
// delivers them, and those queued after them, itself
// (TestListenerPanicLeavesTheRestToTheWaiter).
type Service struct {
	members []channel.Member

	evMu   sync.Mutex  // held across each change and the queueing of its events, to keep them in order; taken before mu
	events callq.Queue // the events waiting to go up, queued under evMu, run outside it

	mu      sync.Mutex
	running channel.Service
	local   channel.Member
	view    []channel.Member                     // replaced on every change, never modified: Members returns it
	byKey   map[channel.MemberKey]channel.Member // the view by key: Member is one lookup
	l       channel.MembershipListener
}

var _ channel.LocalMemberUpdater = (*Service)(nil)

// New returns a static membership of the given members. The local member, recognised by
// its unique id or by host and port once the channel starts, is left out of the view. A
// member listed more than once (the same host, port and unique id) is one member: the
// first entry is kept. An IPv4 host in its 16-byte form (net.IPv4, net.ParseIP) is
// listed in its 4-byte form, the one members' messages carry, so that the sender check
// finds the member (TestIPv4HostInEitherFormIsOneMember); Member and Remove take the key
// of either form.
func New(members ...channel.Member) *Service {
	s := &Service{members: make([]channel.Member, 0, len(members))}
	seen := make(map[channel.MemberKey]bool, len(members))
	for _, m := range members {
		m = m.Unmapped()
		if k := m.Key(); !seen[k] {
			seen[k] = true
			s.members = append(s.members, m)
		}
	}
	return s
}

// Start implements channel.MembershipService. Starting the membership-rx level announces
// every configured member to l; Start returns once l has been told, or when ctx ends (an
// error wrapping ctx's, the members still going up in order). A Start made from the
// listener, on the goroutine that calls it (a listener restarting the service or the
// channel), waits for none of them, whatever its ctx: they go up on that goroutine once
// the listener returned; it returns nil (TestRestartFromTheListenerReturns).
func (s *Service) Start(ctx context.Context, svc channel.Service, local channel.Member, l channel.MembershipListener) error {
	s.evMu.Lock()
	s.mu.Lock()
	s.local, s.l = local, l
	was := s.running
	s.running |= svc & channel.SvcMembership
	var added []channel.Member
	if was&channel.SvcMembershipRx == 0 && svc&channel.SvcMembershipRx != 0 {
		s.view = nil
		s.byKey = make(map[channel.MemberKey]channel.Member, len(s.members))
		for _, m := range s.members {
			if isLocal(m, local) {
				continue
			}
			s.view = append(s.view, m)
			s.byKey[m.Key()] = m
		}
		added = s.view
	}
	s.mu.Unlock()
	done := s.queueLocked(l, added, true)
	inCall := done != nil && s.events.InCall() // no id read for a Start announcing no member
	s.evMu.Unlock()
	if inCall {
		// Made from the listener (a listener restarting the service), on the goroutine
		// delivering the events: they go up on this goroutine once it returned.
		return nil
	}
	if err := s.events.RunWait(ctx, done); err != nil {
		return fmt.Errorf("static: start: the members not yet delivered to the membership listener: %w", err)
	}
	return nil
}

// queueLocked queues the events of ms for l, with evMu held: events queue in the order of
// the changes. It returns the channel closed once the last went up, nil if there is none
// (no member, or a nil l: a service started without a listener is told nothing).
func (s *Service) queueLocked(l channel.MembershipListener, ms []channel.Member, added bool) chan struct{} {
	if l == nil || len(ms) == 0 {
		return nil
	}
	done := make(chan struct{})
	for i, m := range ms {
		last := i == len(ms)-1
		s.events.Add(func() {
			if last {
				defer close(done)
			}
			if added {
				l.MemberAdded(m)
			} else {
				l.MemberDisappeared(m)
			}
		})
	}
	return done
}

func isLocal(m, local channel.Member) bool {
	if m.UniqueID != (wire.UniqueID{}) && m.UniqueID == local.UniqueID {
		return true
	}
	return m.Port == local.Port && m.IP() == local.IP()
}

// Stop implements channel.MembershipService. Stopping the membership-rx level reports every
// member as gone. Stop returns once the members it reports gone went up, after the events
// queued before them, or when ctx ends (an error wrapping ctx's, the events still going
// up in order) (TestStopWaitsForEarlierEvents); a Stop of a running level that reports
// no member gone (none listed) likewise waits for the events queued before it, so that
// no listener call runs once it returned nil
// (TestStopReportingNoMemberGoneWaitsForEarlierEvents), while a Stop of levels not
// running returns nil at once, waiting for nothing: even for the members gone of an
// earlier Stop that gave up when its ctx ended, still queued behind a listener call, so
// that a channel's second Stop of such a level returns nil before the listener was told
// of them, and they still go up, in order, once it returned
// (TestStopAgainOfAStoppedLevelDoesNotWaitForItsEvents). The channel's Start first stops
// again a level whose earlier Stop gave up, and then the undo of a failed Start stops the
// level that failed: waiting there would make such a Start fail, starting nothing, until
// those events went up (TestFailedStartStopsTheMembershipLevelThatFailed). A Stop
// made from the listener, on the goroutine that calls it (a listener's own Stop of the
// service or of the channel), waits for none of them, whatever its ctx: not for the call
// it is made in, nor for the events behind that call, its members gone included, which
// go up on that goroutine once the listener returned; it returns nil
// (TestStopFromTheListenerWithBackgroundReturns, TestChannelStopFromAListenerReturns). A
// Stop the listener has another goroutine make, and waits for, waits until its ctx ends.
func (s *Service) Stop(ctx context.Context, svc channel.Service) error {
	s.evMu.Lock()
	s.mu.Lock()
	var gone []channel.Member
	l := s.l
	if s.running&channel.SvcMembershipRx != 0 && svc&channel.SvcMembershipRx != 0 {
		gone, s.view, s.byKey = s.view, nil, nil
	}
	stopping := s.running&svc&channel.SvcMembership != 0
	s.running &^= svc
	s.mu.Unlock()
	done := s.queueLocked(l, gone, false)
	inCall := stopping && s.events.InCall() // no id read for a Stop of levels not running
	if done == nil && stopping && !inCall {
		// No member gone: wait for the events queued before, so that no listener call
		// runs once Stop returned.
		done = make(chan struct{})
		s.events.Add(func() { close(done) })
	}
	s.evMu.Unlock()
	if inCall {
		// Made from the listener, on the goroutine delivering the events: the call it is
		// made in, and the events behind it, go up on this goroutine once it returned.
		return nil
	}
	if err := s.events.RunWait(ctx, done); err != nil {
		return fmt.Errorf("static: stop: the members gone not yet delivered to the membership listener: %w", err)
	}
	return nil
}

// Add adds a member to the list at run time; if the membership-rx level runs, the member is
// announced at once, and Add returns once the listener has been told, or when ctx ends:
// it then returns an error wrapping ctx's, and the member, listed already, still goes up
// after the events under way, in order (TestAddWaitsOnlyUntilItsContextEnds). Adding a
// known member or the local one does nothing. An IPv4 host in its 16-byte form is listed
// in its 4-byte form, as by New.
//
// From the membership listener, Add's event goes up only once the listener returned, so
// Add waits until ctx ends: pass a ctx that ends, or one already cancelled to return at
// once (TestAddFromTheListener).
func (s *Service) Add(ctx context.Context, m channel.Member) error {
	s.evMu.Lock()
	m = m.Unmapped()
	s.mu.Lock()
	for _, x := range s.members {
		if x.Equal(m) {
			s.mu.Unlock()
			s.evMu.Unlock()
			return nil
		}
	}
	s.members = append(s.members, m)
	l := s.l
	announce := s.running&channel.SvcMembershipRx != 0 && !isLocal(m, s.local)
	if announce {
		s.view = append(slices.Clip(s.view), m) // a new array: Members' callers hold the old one
		s.byKey[m.Key()] = m
	}
	s.mu.Unlock()
	var done chan struct{}
	if announce {
		done = s.queueLocked(l, []channel.Member{m}, true)
	}
	s.evMu.Unlock()
	if err := s.events.RunWait(ctx, done); err != nil {
		return fmt.Errorf("static: add: the member not yet delivered to the membership listener: %w", err)
	}
	return nil
}

// Remove takes a member off the list; if it was in the view, it is reported gone, and
// Remove returns once the listener has been told, or when ctx ends, as Add.
func (s *Service) Remove(ctx context.Context, key channel.MemberKey) error {
	s.evMu.Lock()
	s.mu.Lock()
	key = key.Unmapped() // members are listed with a 4-byte IPv4 host
	s.members = slices.DeleteFunc(s.members, func(x channel.Member) bool { return x.Key() == key })
	var gone []channel.Member
	if m, ok := s.byKey[key]; ok {
		gone = append(gone, m)
		delete(s.byKey, key)
		s.view = slices.DeleteFunc(slices.Clone(s.view), func(x channel.Member) bool { return x.Key() == key })
	}
	l := s.l
	s.mu.Unlock()
	done := s.queueLocked(l, gone, false)
	s.evMu.Unlock()
	if err := s.events.RunWait(ctx, done); err != nil {
		return fmt.Errorf("static: remove: the member gone not yet delivered to the membership listener: %w", err)
	}
	return nil
}

// Members implements channel.MembershipService. It returns the same slice to every
// caller until the list changes, without allocating (the send path asks for it with every
// message to all members): callers must not modify its elements; appending to it copies
// it.
func (s *Service) Members() []channel.Member {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clip(s.view)
}

// Member implements channel.MembershipService with one map lookup: the channel's sender
// check calls it for every message received. A member listed without a unique id has
// the key of its host and port alone.
func (s *Service) Member(key channel.MemberKey) (channel.Member, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.byKey[key.Unmapped()] // members are listed with a 4-byte IPv4 host
	return m, ok
}

// UpdateLocalMember implements channel.LocalMemberUpdater: the channel calls it when the
// local member changes (its receiver restarted on another address, SetPayload,
// SetDomain), as Tribes' coordinator calls setLocalMemberProperties. From then on m is
// the member Add recognises as the local one. As in Tribes' StaticMembershipService,
// which finds its local member in the list once, the current view is not re-evaluated
// (and no listener is told from here: the channel holds its local-member lock).
func (s *Service) UpdateLocalMember(m channel.Member) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.local = m.Clone()
}

// Heartbeat implements channel.MembershipService; a static list needs no upkeep.
func (s *Service) Heartbeat() {}
