package cloud

import (
	"context"
	"fmt"
	"time"

	"github.com/gotribes/tribes/channel"
)

// Start implements channel.MembershipService. Starting the membership-rx level asks the
// source at once (within ctx and the timeouts); a failed first fetch is logged and
// reported to the health function, not returned, as in Tomcat: the next heartbeat tries
// again. Start waits for the members listed to reach the listener until ctx ends: it then
// returns an error wrapping ctx's, and they still go up, in order. A Start made from the
// listener, on the goroutine that calls it (a listener restarting the service), does not
// wait for them, whatever its ctx: they go up on that goroutine once the listener
// returned (TestRestartFromTheListenerWithBackgroundReturns).
func (s *Service) Start(ctx context.Context, svc channel.Service, local channel.Member, l channel.MembershipListener) error {
	s.mu.Lock()
	s.local, s.l = local, l
	was := s.running
	s.running |= svc & channel.SvcMembership
	first := was&channel.SvcMembershipRx == 0 && svc&channel.SvcMembershipRx != 0
	var r *run
	if first {
		s.started = time.Now()
		s.members = make(map[channel.MemberKey]*entry)
		s.view, s.addrs = nil, nil
		r = &run{}
		r.ctx, r.cancel = context.WithCancel(context.Background())
		s.run = r
		if s.dnsMode && s.ch != nil && !s.cfg.DNS.ListedOnly {
			s.unlisten = s.ch.AddMessageListener(senderWatcher{s})
		}
	}
	s.mu.Unlock()
	if first {
		if err := s.poll(ctx, r); err != nil {
			return fmt.Errorf("cloud: start: the members listed not yet delivered to the membership listener: %w", err)
		}
	}
	return nil
}

// Stop implements channel.MembershipService. Stopping the membership-rx level reports
// every member as gone and cancels a fetch under way (a heartbeat's: the channel does not
// wait for it); what that fetch returns, its failure included, is neither applied nor
// reported to the health function (TestStopDuringHeartbeatFetchIsNoFailure), and a Start
// that follows asks the source at once without waiting for it
// (TestRestartDuringCancelledFetchFetchesAtStart). Stop waits, until ctx ends, for every
// event queued before it to reach the listener (a listing's, a sender's, the listener
// call under way included) and for the members it reports gone, whether or not it
// reports any, so that the listener is called no more once Stop returned nil
// (TestStopWaitsForEarlierEvents); when ctx ends first it returns an error wrapping ctx's,
// and the events go up after the listener call under way. A Stop made from the listener,
// on the goroutine that calls it (a listener's own Stop of the service or of the
// channel), waits for none of them, whatever its ctx: not for the call it is made in, nor
// for the events behind that call, its members gone included, which go up on that
// goroutine once the listener returned; it returns nil
// (TestStopFromTheListenerWithBackgroundReturns, TestChannelStopFromAListenerReturns). A
// Stop the listener has another goroutine make, and waits for, waits until its ctx ends.
func (s *Service) Stop(ctx context.Context, svc channel.Service) error {
	s.evMu.Lock()
	s.mu.Lock()
	var gone []channel.Member
	l := s.l
	if s.running&channel.SvcMembershipRx != 0 && svc&channel.SvcMembershipRx != 0 {
		gone = s.view
		s.view, s.members, s.addrs = nil, nil, nil
		s.run.cancel()
		s.run = nil
		if s.unlisten != nil {
			s.unlisten()
			s.unlisten = nil
		}
		s.closeIdle()
	}
	s.running &^= svc
	s.mu.Unlock()
	done := s.queueLocked(l, nil, gone)
	inCall := s.events.InCall()
	if done == nil && !inCall {
		done = s.queueMarkLocked() // the events queued before: no listener call after Stop returns
	}
	s.evMu.Unlock()
	s.rl.Flush()
	if inCall {
		// Made from the listener, on the goroutine delivering its events: the call it is
		// made in, and the events behind it, go up on this goroutine once it returned.
		return nil
	}
	if err := s.events.RunWait(ctx, done); err != nil {
		return fmt.Errorf("cloud: stop: the membership events not yet delivered to the listener: %w", err)
	}
	return nil
}

// closeIdle closes the provider's kept-alive connection (the Kubernetes API's), if any.
func (s *Service) closeIdle() {
	if c, ok := s.prov.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// Heartbeat implements channel.MembershipService: it asks the source, adds the members
// it lists for the first time and expires those it has not listed for ExpirationTime. It
// waits for their events to reach the listener until the membership-rx level stops
// (TestWaitsForEventsEndWithStop), but for none when made from the listener, as Start.
func (s *Service) Heartbeat() {
	s.mu.Lock()
	r := s.run
	s.mu.Unlock()
	if r == nil {
		return
	}
	_ = s.poll(r.ctx, r) // an error only once r ended
}

// poll fetches for run r and applies, waiting for the events until ctx ends (ctx's error
// then); the expiry runs even when the fetch failed. A fetch that returns after r ended
// (Stop cancelled it) is neither reported nor applied.
func (s *Service) poll(ctx context.Context, r *run) error {
	if !r.fetching.TryLock() {
		return nil // a fetch is under way; it will do
	}
	defer r.fetching.Unlock()
	insts, err := s.fetch(ctx)
	if !s.report(r, err) {
		s.closeIdle() // the connection kept alive by a fetch that outlived Stop
		return nil
	}
	return s.apply(ctx, r, insts, time.Now())
}

// report reports the outcome of a fetch of run r; it reports nothing, and returns
// false, if r has ended.
func (s *Service) report(r *run, err error) bool {
	s.mu.Lock()
	if s.run != r {
		s.mu.Unlock()
		return false
	}
	was := s.failing
	s.failing = err != nil
	h := s.health
	s.mu.Unlock()
	switch {
	case err != nil && !was:
		s.log.Error("tribes cloud membership: fetch failed", "error", err)
	case err != nil:
		s.log.Debug("tribes cloud membership: fetch failed", "error", err)
	case was:
		s.log.Info("tribes cloud membership: fetch works again")
	}
	if h != nil && (err != nil || was) {
		h(err)
	}
	return true
}
