package staticsvc

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/ctxwait"
	"github.com/gotribes/tribes/internal/ratelog"
	"github.com/gotribes/tribes/rpc"
	"github.com/gotribes/tribes/wire"
)

// Service is a channel.MembershipService speaking Tribes' StaticMembershipService
// protocol. Create it with New and give it to channel.New as Config.Membership.
type Service struct {
	cfg Config
	id  []byte // membershipId and RPC id
	cls classes
	log *slog.Logger
	rl  *ratelog.Limiter // refusals of what peers announce

	overLimit, oversized, badRequests, stopsRefuted atomic.Uint64

	mu      sync.Mutex
	ch      *channel.Channel
	running channel.Service
	l       channel.MembershipListener
	local   channel.Member
	view    map[channel.MemberKey]*entry
	run     *runState // nil unless both levels run
	// stopping is the run a Stop ended whose stop has not finished (its ping goroutine
	// still runs): a later Stop waits for it, and so does a Start.
	stopping *runState
	// stopped holds when the members that sent a STOP did, by unique id: for stopMemory
	// after it, a PING of theirs or a reply to this node's (sent before the STOP, on
	// another connection, or late) does not add them again; a START (the node restarted
	// with the same id) does. Emptied when full.
	stopped map[channel.UniqueID]time.Time
	// stopChecks holds the checks of STOPs naming listed members under way, by member
	// (stopcheck.go): at most one per member in the view.
	stopChecks map[channel.MemberKey]*stopCheck
	// declining is the rpc.Channel a stopped run leaves in its place for a while, which
	// answers the service's requests with a NoRpcChannelReply (stopcheck.go); the next
	// Start closes it first, and so does the Start of another Service on the channel with
	// the same id (decline.go).
	declining *rpc.Channel
	// checkPing, if set, replaces the PING of a STOP's check (answers; tests only).
	checkPing func(r *runState, target channel.Member) bool

	// members is the view as Members returns it, sorted; replaced (never modified) after
	// every change of the view, so Members does not allocate.
	members atomic.Pointer[[]channel.Member]

	// evq holds the view's changes not yet delivered to the membership listener, in
	// order; delivering is set while a goroutine (deliver) delivers them. Guarded by mu.
	// The queue is coalesced per member once it reaches evqLimit (at least minEvqLimit),
	// so that it stays bounded however long a listener call takes (coalesce).
	evq        []memberEvent
	evqLimit   int
	delivering bool
	// calling is set while deliver is inside a listener call: a Stop that begins then
	// does not wait for the delivery of its events (the listener may be its caller).
	calling atomic.Bool
}

type entry struct {
	m     channel.Member
	heard time.Time
}

// runState is what runs while the member protocol is active.
type runState struct {
	ctx      context.Context
	cancel   context.CancelFunc
	done     chan struct{} // closed when the ping goroutine ended (nil if there is none)
	stopped  chan struct{} // closed when Stop's work for this run is finished
	reported chan struct{} // closed once the members the stop reported gone were delivered
	unlisten func()
	rpc      *rpc.Channel
	checks   sync.WaitGroup // the goroutines of stopChecks
}

// MembershipID returns the ISO-8859-1 bytes of "<ChannelName>-StaticMembership": the
// membershipId of the member messages and the id of the RPCs they travel in.
func (s *Service) MembershipID() []byte { return slices.Clone(s.id) }

var _ channel.LocalMemberUpdater = (*Service)(nil)

// UpdateLocalMember implements channel.LocalMemberUpdater: the channel calls it when the
// local member changes (its receiver restarted on another address, SetPayload,
// SetDomain). From then on the static member at m's address is the one left out of the
// STARTs and PINGs, and a member announcing itself as m is not listed; the static member
// at the address the receiver left is pinged like the others
// (TestReceiverRestartMovesLocalMember). The messages always carry the channel's current
// local member. The view is not re-evaluated, and no listener is told from here (the
// channel holds its local-member lock).
func (s *Service) UpdateLocalMember(m channel.Member) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.local = m.Clone()
}

// SetChannel implements channel.ChannelUser: channel.New calls it.
func (s *Service) SetChannel(c *channel.Channel) {
	s.mu.Lock()
	s.ch = c
	s.mu.Unlock()
}

// Start implements channel.MembershipService. The member protocol runs once both
// membership levels run (Tribes starts the provider when its start level is
// MBR_RX|MBR_TX): the static members that accept a TCP connection get a START and the
// ones that answer are members, which Start waits, within ctx, to see reported to the
// membership listener, unless a listener call is under way when it comes to wait (the
// caller may be that listener, or a call from elsewhere may be held): Start then returns
// nil and they follow once the call returned (TestStartDoesNotWaitForAHeldListener);
// then they are pinged every PingInterval.
func (s *Service) Start(ctx context.Context, svc channel.Service, local channel.Member, l channel.MembershipListener) error {
	s.mu.Lock()
	if s.ch == nil {
		s.mu.Unlock()
		return ErrNoChannel
	}
	// A stop whose ctx ended before its ping goroutine did finishes first: it clears
	// the view and closes the RPC channel of the run it stopped. Waited for before any
	// level is taken, so that a Start that gives up has started nothing: the channel
	// stops the levels a failed Start took, and that Stop would wait for the same stop.
	for s.stopping != nil {
		f := s.stopping
		s.mu.Unlock()
		if err := waitStopped(ctx, f, false); err != nil {
			return fmt.Errorf("staticsvc: start: the previous stop has not finished: %w", err)
		}
		s.mu.Lock()
	}
	s.l, s.local = l, local
	s.running |= svc & channel.SvcMembership
	if s.running != channel.SvcMembership || s.run != nil {
		s.mu.Unlock()
		return nil
	}
	ch := s.ch
	s.mu.Unlock()

	// The responder a stopped run left answering for the id (this Service's, or another's
	// stopped on this channel) steps aside.
	s.closeDeclining(nil)
	rc, err := newRPC(rpc.Config{Channel: ch, ID: s.id, Handler: rpc.HandlerFunc(s.replyRequest), LeftOver: s.leftOver,
		AcceptNonMembers: true, Limits: s.cfg.Limits}) // START and PING come from nodes not listed yet: the protocol's purpose
	if err != nil {
		s.mu.Lock()
		s.running &^= svc
		s.mu.Unlock()
		return fmt.Errorf("staticsvc: %w", err)
	}
	rctx, cancel := context.WithCancel(context.Background())
	r := &runState{ctx: rctx, cancel: cancel, rpc: rc, unlisten: ch.AddMessageListener(stopListener{s}),
		stopped: make(chan struct{}), reported: make(chan struct{})}
	if s.cfg.PingInterval > 0 {
		r.done = make(chan struct{})
	}
	s.mu.Lock()
	s.run = r
	s.mu.Unlock()
	s.announce(ctx, r, msgStart)
	if r.done != nil {
		go s.pingLoop(r)
	}
	s.flushEvents(ctx)
	return nil
}

// flushEvents waits, within ctx, for the events queued so far to reach the membership
// listener, unless a listener call is under way (the caller may be that listener).
func (s *Service) flushEvents(ctx context.Context) {
	if s.calling.Load() {
		return
	}
	done := make(chan struct{})
	s.updateThen(done, func(time.Time) (added, gone []channel.Member) { return nil, nil })
	ctxwait.Done(ctx, done)
}

// Stop implements channel.MembershipService. When neither level runs any more, the
// members get a STOP (the local member with the BABY-ALEX command) and are reported gone.
// A member that cannot be sent the STOP (it may be stopping too) is logged, as in Tomcat,
// and does not make Stop fail.
//
// The membership listener is called on a goroutine of the service's own, one event at a
// time and in order, never on the ping goroutine or a receiving one, so that neither
// waits for a listener. Stop waits for the members it reports gone to reach the
// listener, unless a listener call is under way when Stop begins: it does not wait for
// that call, nor for the events after it, as the channel's Stop does not wait for a
// heartbeat under way. A listener gets no context that could mark its call, so a Stop it
// makes, with whatever ctx, would otherwise wait for itself; such a Stop (or one from
// elsewhere while a listener is held) returns once the rest of the stop is done, and the
// events are delivered once the call under way has returned
// (TestStopFromAPingListenerReturns, TestStopDoesNotWaitForAHeldListener). The events
// waiting meanwhile are coalesced per member once there are many (see doc.go), so a held
// listener may not be told of a member that came and went while it was held. A listener
// call that Stop's own events make (a member it reports gone) is waited for, so it must
// not call the channel's Start or Stop: a channel's Stop waits for it holding the
// channel's Start/Stop lock, which such a call waits for, until the Stop's ctx ends
// (TestChannelStopFromAListenerOfItsOwnEventWaitsForItsContext).
//
// Stop first closes the RPC channel to requests and sends the STOP, within ctx, before
// it waits for anything, as Tribes' stop does, so that the members learn of the stop
// even when the transport stops as soon as Stop returned
// (TestStopSendsItsStopBeforeWaitingForReplies). It then waits for the ping goroutine (a
// ping under way: its connects, its RPC) and for the replies to strangers in flight
// only until ctx ends: it then returns an error wrapping ctx.Err(), and the rest of the
// stop (the members reported gone) is done in the background; what is left of the STOP
// once ctx has ended is sent within RPCTimeout (TestStopAfterItsContextStillTellsTheMembers,
// TestStopWhileAReplyIsHeldStillTellsTheMembers). A later Stop waits for it again, within
// its own ctx, and so does a Start, before it takes any level, so that one that gives up
// has started nothing (TestStopHonoursItsContext, TestStartAfterATimedOutStop).
func (s *Service) Stop(ctx context.Context, svc channel.Service) error {
	inCall := s.calling.Load()
	s.mu.Lock()
	s.running &^= svc
	r := s.run
	if s.running != 0 || r == nil {
		f := s.stopping
		s.mu.Unlock()
		if s.running != 0 || f == nil {
			return nil
		}
		return waitStopped(ctx, f, !inCall)
	}
	s.run, s.stopping = nil, r
	ch := s.ch
	s.mu.Unlock()

	r.cancel()
	go s.finishStop(ctx, ch, r)
	return waitStopped(ctx, r, !inCall)
}

// waitStopped waits for the stop of r to finish and, with reported, for the members it
// reported gone to reach the listener, or for ctx to end.
func waitStopped(ctx context.Context, r *runState, reported bool) error {
	if !ctxwait.Done(ctx, r.stopped) {
		return fmt.Errorf("staticsvc: stop: not finished (the ping goroutine, or the RPC channel's close, still runs): %w", ctx.Err())
	}
	if reported && !ctxwait.Done(ctx, r.reported) {
		return fmt.Errorf("staticsvc: stop: the members gone not yet delivered to the membership listener: %w", ctx.Err())
	}
	return nil
}

// finishStop is the stop of run r: its RPC channel closed (it takes no more requests),
// the STOP sent, then, once its ping goroutine ended and the replies to strangers did,
// the view emptied.
func (s *Service) finishStop(ctx context.Context, ch *channel.Channel, r *runState) {
	defer func() {
		s.mu.Lock()
		if s.stopping == r {
			s.stopping = nil
		}
		s.mu.Unlock()
		close(r.stopped)
	}()
	// Once Stop's ctx has ended (Stop returned its error while the ping was held, or
	// while rpc.Close waited), what is left has a bounded context of its own, so that
	// the members still get the STOP.
	var own context.Context
	cancelOwn := func() {}
	defer func() { cancelOwn() }()
	bounded := func() context.Context {
		if ctx.Err() == nil {
			return ctx
		}
		if own == nil {
			own, cancelOwn = context.WithTimeout(context.WithoutCancel(ctx), s.cfg.RPCTimeout)
		}
		return own
	}
	// The RPC channel is unregistered first, at once (Close with an ended context does
	// not wait for the replies to strangers): a reply to a START or PING sent after the
	// STOP is then its next run's (see heard). The STOP follows, before anything is waited
	// for, as Tribes' stop sends it without waiting for its ping thread: a Stop whose ctx
	// ends while the ping or a reply to a stranger is held has sent it, so it reaches the
	// members although the transport stops right after
	// (TestStopSendsItsStopBeforeWaitingForReplies). A PING of the ping goroutine that
	// leaves after it is ignored by the members, as any PING after a STOP.
	ended, cancelEnded := context.WithCancel(context.Background())
	cancelEnded()
	_ = r.rpc.Close(ended)
	s.decline(ch)
	if to := s.Members(); len(to) > 0 {
		local := ch.LocalMember()
		local.Command = wire.ShutdownCommand
		// As Tomcat's stopMembership: a member that cannot be told (it may be stopping
		// too) is logged, and the stop goes on; it expires that member's view of us.
		if err := s.sendPlain(bounded(), ch, to, memberMessage{typ: msgStop, member: local, id: s.id}); err != nil {
			s.log.Warn("tribes static membership: send MSG_STOP", "err", err)
		}
	}
	if r.done != nil {
		<-r.done
	}
	// Replies to non-members still in flight when ctx ends are left to end by themselves.
	if err := r.rpc.Close(bounded()); err != nil {
		s.log.Warn("tribes static membership: close the RPC channel", "err", err)
	}
	r.unlisten()
	// The checks of STOPs end with the run's context and its RPC channel's close.
	r.checks.Wait()
	s.rl.Flush()
	s.updateThen(r.reported, func(now time.Time) (added, gone []channel.Member) {
		for k, e := range s.view {
			gone = append(gone, e.m)
			delete(s.view, k)
		}
		return nil, gone
	})
}

// Members implements channel.MembershipService: the members, oldest first. It returns
// the same slice to every caller until the view changes, without allocating (the send
// path asks for it with every message to all members): callers must not modify its
// elements; appending to it copies it.
func (s *Service) Members() []channel.Member {
	if ms := s.members.Load(); ms != nil {
		return *ms
	}
	return nil
}

// snapshotLocked replaces the slice Members returns with the view, oldest first (ties by
// address, then port; compared without formatting). Its capacity is its length, so that a caller's append copies it.
func (s *Service) snapshotLocked() {
	ms := make([]channel.Member, 0, len(s.view))
	for _, e := range s.view {
		ms = append(ms, e.m)
	}
	slices.SortFunc(ms, func(a, b channel.Member) int {
		if c := cmp.Compare(b.AliveTime, a.AliveTime); c != 0 {
			return c
		}
		if c := a.IP().Compare(b.IP()); c != 0 {
			return c
		}
		return cmp.Compare(a.Port, b.Port)
	})
	s.members.Store(&ms)
}

// Member implements channel.MembershipService.
func (s *Service) Member(key channel.MemberKey) (channel.Member, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.view[key]; ok {
		return e.m, true
	}
	return channel.Member{}, false
}

// active reports whether the member protocol runs.
func (s *Service) active() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.run != nil
}
