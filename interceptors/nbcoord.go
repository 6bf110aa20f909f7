package interceptors

import (
	"context"
	"crypto/rand"
	"errors"
	"log/slog"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gotribes/tribes/channel"
)

// DefaultCoordWaitTimeout is NonBlockingCoordinator's waitForCoordMsgTimeout.
const DefaultCoordWaitTimeout = 15 * time.Second

// DefaultCoordConnectTimeout bounds the TCP connect that checks a member learnt from an
// election message (Tomcat uses waitForCoordMsgTimeout, 15 s, for it).
const DefaultCoordConnectTimeout = 2 * time.Second

// DefaultCoordInboxLimit is how many coordination messages a NonBlockingCoordinator queues
// while its goroutine is busy (Tomcat has no queue: it handles them on the receiving thread).
const DefaultCoordInboxLimit = 64

// DefaultCoordDeadMemberTTL is how long a NonBlockingCoordinator remembers a member that
// failed the alive check (Tomcat checks again on every message).
const DefaultCoordDeadMemberTTL = 30 * time.Second

// maxDeadMembers bounds the members remembered as failing the alive check; beyond it, a
// failed member is not remembered (it is checked again next time).
const maxDeadMembers = 1024

// NonBlockingCoordinatorConfig configures a NonBlockingCoordinator.
type NonBlockingCoordinatorConfig struct {
	// WaitTimeout: a member that is not first in its own view waits this long for an
	// election message; if none arrives it starts one itself, naming the member it thinks
	// leads (Tomcat waitForCoordMsgTimeout, 15 s; Tomcat gives up instead). An election this
	// member started that has not completed after WaitTimeout is abandoned.
	WaitTimeout time.Duration
	// AliveCheck reports whether a member named in an election message, but unknown to the
	// membership, is alive; such members are added to the membership (and MemberAdded is
	// passed up) only if it says so. Default: a TCP connect to its address within
	// ConnectTimeout, as Tomcat.
	AliveCheck func(ctx context.Context, m channel.Member) bool
	// ConnectTimeout bounds the default AliveCheck (default 2 s).
	ConnectTimeout time.Duration
	// InboxLimit bounds the coordination messages queued for the coordinator's goroutine
	// (default DefaultCoordInboxLimit, 64; Tomcat: none, it blocks the receiving thread). A
	// message that repeats a queued one (same sender, same election id) replaces it; one
	// beyond the limit is dropped and counted (CoordinatorStats.InboxDropped): its election
	// is abandoned after WaitTimeout, as a lost token. It also bounds the senders whose
	// latest coordination message is held because they were not members when it arrived
	// (CoordinatorStats.NotFromMember); beyond it, such a message is dropped, so a
	// stranger sending from that many invented sources within every WaitTimeout has a
	// real member's early token dropped. Apart from InboxLimit, the views of the queued
	// messages, and apart from them those of the held ones, have at most 65 536 members
	// together (the most one message's view may have): beyond, a message is dropped too.
	// In a cluster of N members an election message's view has about N, so at most
	// 65 536 / N of them are queued (and as many held): fewer than InboxLimit's 64 above
	// 1 024 members, 32 at 2 048, one from 32 769 on (at 40 000, say), the others dropped
	// and counted in InboxDropped.
	InboxLimit int
	// DeadMemberTTL is how long a member that failed AliveCheck is remembered as dead: it is
	// dropped from election views without another check meanwhile (default
	// DefaultCoordDeadMemberTTL, 30 s; Tomcat checks on every message).
	DeadMemberTTL time.Duration
	// OnViewChange, if set, is called with every installed view and its id, one call at a
	// time, from the coordinator's goroutine. It must not block for long. No call begins
	// once Stop has begun (see Stop for a call under way then).
	OnViewChange func(view []channel.Member, id [16]byte)
	// Logger receives view changes (Info) and election problems (Warn). Nil discards.
	Logger *slog.Logger
}

// CoordinatorStats are a NonBlockingCoordinator's counters.
type CoordinatorStats struct {
	ElectionsStarted uint64 // election tokens this member created
	MessagesSent     uint64 // coordination messages sent
	MessagesReceived uint64 // coordination messages received
	BadMessages      uint64 // coordination messages that did not parse
	AliveIgnored     uint64 // COORD_ALIVE messages swallowed
	ViewsInstalled   uint64
	SendFailures     uint64
	NotFromMember    uint64 // coordination messages whose sender was not a member when they arrived: held, not handled
	HeldHandled      uint64 // of those, handled once the membership listed their sender (within WaitTimeout)
	InboxDropped     uint64 // coordination messages dropped: the inbox was full (InboxLimit)
	DeadSkipped      uint64 // alive checks skipped: the member failed one within DeadMemberTTL
}

// NonBlockingCoordinator is Tribes' NonBlockingCoordinator: a leader election by a token
// passed around the ring of members in absolute order (CompareAbsolute). The member first
// in that order sends a request with its view to the next member; every member merges the
// members it knows into the view and passes the token on; when it returns to its source
// unchanged, the source confirms the view to everybody. The coordinator is the first member
// of the agreed view.
//
// This is a simplified but wire-faithful port: the messages (CoordinationMessage, options
// USE_ACK, consumed on receipt; COORD_ALIVE ignored) and the token rules are Tomcat's, so
// Go and Java members take part in the same election; Tomcat's blocking waits are replaced
// by a goroutine and timers, and a member that gets no token within WaitTimeout starts one.
// Members() returns the coordinator's own membership in absolute order, including members
// learnt from election messages.
//
// Departing from Tomcat, which takes election messages from anyone: a coordination message
// is handled only once its sender is a member — known to the membership below, or learnt
// from a member's election message and alive — so a stranger can neither join the
// membership (and so pass the channel's member check) nor install a view; and a confirmed
// view is installed without the members that are unknown and fail the alive check (Tomcat
// installs the confirmation's view as it is). A message from a sender that is not a member
// yet is held (CoordinatorStats.NotFromMember; the latest per sender, for at most
// InboxLimit senders) and handled if the membership lists the sender within WaitTimeout
// (CoordinatorStats.HeldHandled), before the sender's later messages: a member that sees
// this one first may pass it the token before this one's membership lists it.
//
// An entry at the local member's address (host and port) under another unique id, the
// entry of the node that ran there before a restart that a peer still lists, is stale: it
// is in no view or Members(), and no token is sent to it (it would come back to this node).
type NonBlockingCoordinator struct {
	channel.InterceptorBase
	cfg NonBlockingCoordinatorConfig
	log *slog.Logger

	mu       sync.Mutex
	members  map[channel.MemberKey]channel.Member
	running  bool
	view     []channel.Member
	viewID   [16]byte
	hasView  bool
	changed  chan struct{}
	inbox    []coordEvent
	held     map[channel.MemberKey]heldCoordMessage // from senders not members yet (hold)
	wake     chan struct{}
	cancel   context.CancelFunc
	run      *runGroup // the goroutine of the running coordinator
	stopping stoppingRuns
	owner    chan struct{} // holds the token of the election state while no run goroutine has it
	received atomic.Bool   // a coordination message arrived since the last wait began

	// owned by the run goroutine holding the token of owner
	own         *runGroup // the run the goroutine belongs to, marked around its calls up
	suggested   []channel.Member
	suggestedID *[16]byte
	suggestedAt time.Time
	wait        *time.Timer

	dead map[channel.MemberKey]time.Time // failed the alive check, until; run goroutine only

	elections, sent, recv, bad, alive, views, sendFail atomic.Uint64
	notMember, dropped, deadSkipped, heldHandled       atomic.Uint64
}

type coordEvent struct {
	kind  int // evElect, evMessage, evHeartbeat, evRelease
	force bool
	from  channel.MemberKey // the sender of msg
	msg   CoordinationMessage
}

const (
	evElect = iota
	evMessage
	evHeartbeat
	evRelease // a member was added: handle the messages held for it (releaseHeld)
)

// NewNonBlockingCoordinator returns a NonBlockingCoordinator.
func NewNonBlockingCoordinator(cfg NonBlockingCoordinatorConfig) (*NonBlockingCoordinator, error) {
	if cfg.WaitTimeout == 0 {
		cfg.WaitTimeout = DefaultCoordWaitTimeout
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = DefaultCoordConnectTimeout
	}
	if cfg.InboxLimit == 0 {
		cfg.InboxLimit = DefaultCoordInboxLimit
	}
	if cfg.DeadMemberTTL == 0 {
		cfg.DeadMemberTTL = DefaultCoordDeadMemberTTL
	}
	if cfg.WaitTimeout < 0 || cfg.ConnectTimeout < 0 || cfg.DeadMemberTTL < 0 {
		return nil, configError("nonblockingcoordinator: negative timeout")
	}
	if cfg.InboxLimit < 0 {
		return nil, configError("nonblockingcoordinator: negative inbox limit")
	}
	c := &NonBlockingCoordinator{cfg: cfg, log: cfg.Logger, members: map[channel.MemberKey]channel.Member{},
		changed: make(chan struct{}), dead: map[channel.MemberKey]time.Time{}, owner: make(chan struct{}, 1)}
	c.owner <- struct{}{}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.cfg.AliveCheck == nil {
		c.cfg.AliveCheck = c.tcpAlive
	}
	return c, nil
}

func (c *NonBlockingCoordinator) tcpAlive(ctx context.Context, m channel.Member) bool {
	if m.IsShutdown() {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.ConnectTimeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", m.Addr())
	if err != nil {
		return false
	}
	_ = conn.Close()
	return true
}

// Start starts the layers below; with the sender level it starts the coordinator's
// goroutine and an election.
//
// The coordinator accepts events before the layers below start: once the receiver runs, a
// peer that sees this member (its membership may be quicker than ours) can pass it the
// election token at once, and a token dropped here would stall the election until a wait
// timed out. Events that arrive while the layers below start are queued behind the first
// election and handled once the goroutine runs.
func (c *NonBlockingCoordinator) Start(ctx context.Context, svc channel.Service) error {
	if svc&channel.SvcSender == 0 {
		return c.Next().Start(ctx, svc)
	}
	// The goroutine of a run whose Stop returned before it ended (see Stop) is waited
	// for first, so that a Start that gives up has started nothing.
	if err := c.stopping.await(ctx, "nonblockingcoordinator: start"); err != nil {
		return err
	}
	c.mu.Lock()
	if c.running {
		c.mu.Unlock()
		return c.Next().Start(ctx, svc)
	}
	rctx, cancel := context.WithCancel(context.Background())
	g := newRunGroup()
	c.running, c.cancel, c.run = true, cancel, g
	c.wake = make(chan struct{}, 1)
	c.inbox = append(c.inbox[:0], coordEvent{kind: evElect})
	wake := c.wake
	c.mu.Unlock()
	if err := c.Next().Start(ctx, svc); err != nil {
		c.mu.Lock()
		c.running, c.inbox = false, nil
		c.mu.Unlock()
		cancel()
		return err
	}
	g.Go(func() {
		// Started from a listener an older run's goroutine called (a restart), or while
		// one was held: that goroutine owns the election state until it ends, whichever
		// runs began and stopped since (TestNonBlockingCoordinatorOldRunLeavesTheNewOne).
		select {
		case <-c.owner:
		case <-rctx.Done():
			return
		}
		defer func() { c.owner <- struct{}{} }()
		c.runLoop(rctx, g, wake)
	})
	select {
	case wake <- struct{}{}:
	default: // already signalled
	}
	return nil
}

// Stop stops the coordinator's goroutine (with the sender level) and the layers below. The
// view is forgotten.
//
// Stop waits for the goroutine (an alive check, a send the layers below hold) until ctx
// ends: it then returns an error wrapping ctx.Err() (joined with the layers below's, which
// it stops all the same), and the goroutine ends in the background, installing no view,
// adding no member, calling no listener and sending nothing
// (TestNonBlockingCoordinatorInstallsNoViewAfterItsStop,
// TestNonBlockingCoordinatorNoViewChangeAfterItsStop,
// TestNonBlockingCoordinatorStoppedRunChangesNothing,
// TestNonBlockingCoordinatorSendsNothingAfterItsStop); a later Stop waits
// for it again within its own ctx, and so does a Start before it starts anything
// (TestNonBlockingCoordinatorStopHonoursItsContext). Neither waits for the goroutine
// while it is inside an OnViewChange or membership listener call when they begin, as the
// channel's Stop does not wait for a heartbeat under way: the caller may be that
// listener, stopping or restarting the channel, and the goroutine cannot end before it
// returns; a run such a Start begins handles its events once the old goroutine ended
// (TestNonBlockingCoordinatorRestartFromItsGoroutine). The trade-off: a Stop made
// elsewhere while such a call is held returns without waiting for the goroutine, which
// does nothing more once the call returned (nor in a run a later Start began) and ends,
// and a later Stop waits for it (TestNonBlockingCoordinatorStopDoesNotWaitForAHeldListener,
// TestNonBlockingCoordinatorOldRunLeavesTheNewOne).
func (c *NonBlockingCoordinator) Stop(ctx context.Context, svc channel.Service) error {
	var err error
	if svc&channel.SvcSender != 0 {
		c.mu.Lock()
		running, cancel, g := c.running, c.cancel, c.run
		c.running = false
		c.inbox, c.held = nil, nil
		c.mu.Unlock()
		if running {
			cancel()
			c.mu.Lock()
			c.view, c.hasView, c.viewID = nil, false, [16]byte{}
			c.mu.Unlock()
		} else {
			g = nil
		}
		err = c.stopping.stop(ctx, "nonblockingcoordinator", g)
	}
	return errors.Join(err, c.Next().Stop(ctx, svc))
}

// runLoop owns the election state and processes events one at a time, as a goroutine of
// run g.
func (c *NonBlockingCoordinator) runLoop(ctx context.Context, g *runGroup, wake chan struct{}) {
	c.own = g
	c.suggested, c.suggestedID = nil, nil
	c.wait = time.NewTimer(time.Hour)
	c.wait.Stop()
	defer c.wait.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.wait.C:
			if !c.received.Load() {
				c.log.Warn("tribes coordinator: no election message arrived, starting one")
				c.startElection(ctx, true)
			}
		case <-wake:
			for {
				c.mu.Lock()
				if len(c.inbox) == 0 || ctx.Err() != nil || !c.runningLocked(g) {
					c.mu.Unlock()
					break
				}
				ev := c.inbox[0]
				c.inbox = c.inbox[1:]
				c.mu.Unlock()
				c.handle(ctx, ev)
			}
		}
	}
}

func (c *NonBlockingCoordinator) handle(ctx context.Context, ev coordEvent) {
	switch ev.kind {
	case evElect:
		c.startElection(ctx, ev.force)
	case evMessage:
		c.process(ctx, ev.msg)
	case evRelease:
		c.releaseHeld()
	case evHeartbeat:
		local := c.local()
		c.mu.Lock()
		inconsistent := c.hasView && !sameMembers(c.view, viewOf(local, c.memberList(local)))
		c.mu.Unlock()
		if inconsistent && c.isHighest(local) {
			c.startElection(ctx, true)
		}
	}
}

func (c *NonBlockingCoordinator) local() channel.Member { return c.Next().LocalMember(false) }

// memberList returns the membership in absolute order, without the stale entries of
// local (staleSelf). Caller holds c.mu.
func (c *NonBlockingCoordinator) memberList(local channel.Member) []channel.Member {
	out := make([]channel.Member, 0, len(c.members))
	for _, m := range c.members {
		if !staleSelf(local, m) {
			out = append(out, m)
		}
	}
	SortAbsolute(out)
	return out
}

func (c *NonBlockingCoordinator) isHighest(local channel.Member) bool {
	c.mu.Lock()
	ms := c.memberList(local)
	c.mu.Unlock()
	return len(ms) == 0 || CompareAbsolute(local, ms[0]) <= 0
}

func newViewID() [16]byte {
	var id [16]byte
	_, _ = rand.Read(id[:])
	id[6] = id[6]&0x0f | 0x40
	id[8] = id[8]&0x3f | 0x80
	return id
}

// MessageReceived consumes coordination messages, ignores COORD_ALIVE and passes
// everything else up. A coordination message whose sender is not a member (isMember) is
// counted and held until it is one (hold).
func (c *NonBlockingCoordinator) MessageReceived(msg *channel.Message) error {
	switch {
	case IsCoordAlive(msg.Data):
		c.alive.Add(1)
		return nil
	case IsCoordinationMessage(msg.Data):
		cm, err := ParseCoordinationMessage(msg.Data)
		if err != nil {
			c.bad.Add(1)
			c.log.Debug("tribes coordinator: bad coordination message", "from", msg.Source.String(), "err", err)
			return nil
		}
		if !c.isMember(msg.Source) {
			c.notMember.Add(1)
			c.log.Debug("tribes coordinator: coordination message from a non-member held", "from", msg.Source.String())
			c.hold(msg.Source, cm)
			return nil
		}
		c.recv.Add(1)
		c.post(coordEvent{kind: evMessage, from: msg.Source.Key(), msg: cm})
		return nil
	}
	return c.Prev().MessageReceived(msg)
}

// MemberAdded records m, passes the event up and starts an election; a coordination
// message m sent before it was a member is handled then (releaseHeld, on the
// coordinator's goroutine: it asks the layers below who is a member, and the caller may
// hold their locks).
func (c *NonBlockingCoordinator) MemberAdded(m channel.Member) {
	if c.addMember(m, nil) {
		c.post(coordEvent{kind: evElect})
		c.post(coordEvent{kind: evRelease})
	}
}

// MemberDisappeared forgets m, passes the event up and, on the coordinator or the highest
// member, forces an election.
func (c *NonBlockingCoordinator) MemberDisappeared(m channel.Member) {
	c.mu.Lock()
	delete(c.members, m.Key())
	c.mu.Unlock()
	c.Prev().MemberDisappeared(m)
	local := c.local()
	if c.IsCoordinator() || c.isHighest(local) {
		c.post(coordEvent{kind: evElect, force: true})
	}
}

// Heartbeat checks that the view matches the membership (an election if not, on the
// highest member) and passes the heartbeat down.
func (c *NonBlockingCoordinator) Heartbeat() {
	c.post(coordEvent{kind: evHeartbeat})
	c.Next().Heartbeat()
}

// Members returns the coordinator's membership in absolute order, without entries at
// the local member's address under another unique id (see NonBlockingCoordinator).
func (c *NonBlockingCoordinator) Members() []channel.Member {
	local := c.local()
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.memberList(local)
}

// Member looks a member up in the coordinator's membership.
func (c *NonBlockingCoordinator) Member(key channel.MemberKey) (channel.Member, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m, ok := c.members[key]
	return m, ok
}

// View returns the installed view (in absolute order) and its id; ok is false before the
// first view.
func (c *NonBlockingCoordinator) View() (view []channel.Member, id [16]byte, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.view), c.viewID, c.hasView
}

// ViewChanged returns a channel that is closed when a view is installed after the call;
// one close may stand for several views. As with SimpleCoordinator.ViewChanged, take the
// channel before reading View, or a view installed in between is missed.
func (c *NonBlockingCoordinator) ViewChanged() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.changed
}

// Coordinator returns the first member of the installed view.
func (c *NonBlockingCoordinator) Coordinator() (channel.Member, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.view) == 0 {
		return channel.Member{}, false
	}
	return c.view[0], true
}

// IsCoordinator reports whether the local member is the coordinator.
func (c *NonBlockingCoordinator) IsCoordinator() bool {
	co, ok := c.Coordinator()
	return ok && co.Equal(c.local())
}

// Stats returns a snapshot of the counters.
func (c *NonBlockingCoordinator) Stats() CoordinatorStats {
	return CoordinatorStats{
		ElectionsStarted: c.elections.Load(), MessagesSent: c.sent.Load(), MessagesReceived: c.recv.Load(),
		BadMessages: c.bad.Load(), AliveIgnored: c.alive.Load(), ViewsInstalled: c.views.Load(),
		SendFailures: c.sendFail.Load(), NotFromMember: c.notMember.Load(), HeldHandled: c.heldHandled.Load(),
		InboxDropped: c.dropped.Load(), DeadSkipped: c.deadSkipped.Load(),
	}
}

func init() {
	Register("nonblockingcoordinator", func(p *Props) (channel.Interceptor, error) {
		return NewNonBlockingCoordinator(NonBlockingCoordinatorConfig{
			WaitTimeout:    p.Duration("waitForCoordMsgTimeout", DefaultCoordWaitTimeout),
			ConnectTimeout: p.Duration("connectTimeout", DefaultCoordConnectTimeout),
		})
	})
}
