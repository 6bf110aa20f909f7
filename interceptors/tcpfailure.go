package interceptors

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/callq"
)

// tcpFailDetect is TcpFailureDetector.TCP_FAIL_DETECT: the payload of a probe.
var tcpFailDetect = []byte{
	0x4f, 0xa7, 0x73, 0x48, 0x79, 0x82, 0x43, 0xc9, 0x9f, 0x6f, 0x89, 0x80, 0xa1, 0x5b, 0x07, 0x14,
	0x7d, 0xd9, 0x52, 0x5b, 0xeb, 0xf1, 0x43, 0x9a, 0xb7, 0x7e, 0xbe, 0x8f, 0x81, 0x67, 0x1e, 0xb6,
	0x37, 0x15, 0xbe, 0x87, 0x45, 0x7e, 0x4c, 0xa8, 0xbf, 0x0a, 0x4d, 0x13, 0x53, 0x38, 0x15, 0x32,
	0x55, 0xf6, 0x94, 0xb7, 0x3a, 0xfa, 0x40, 0x78, 0x91, 0x04, 0x7d, 0xd7, 0x72, 0x84, 0xc0, 0xd5,
}

// FailureDetectorProbe returns the 64 bytes of a TCP failure detector probe message
// (Tribes' TcpFailureDetector.TCP_FAIL_DETECT).
func FailureDetectorProbe() []byte { return bytes.Clone(tcpFailDetect) }

// TCPFailureDetector defaults (Tomcat's).
const (
	DefaultConnectTimeout        = 1000 * time.Millisecond
	DefaultReadTestTimeout       = 5000 * time.Millisecond
	DefaultRemoveSuspectsTimeout = 300 * time.Second
	// DefaultMaxHeldSets is TCPFailureDetectorConfig.MaxHeldSets's default (maxHeldSets, Go
	// only).
	DefaultMaxHeldSets = 4
	// DefaultMaxHeldMessages is TCPFailureDetectorConfig.MaxHeldMessages's default
	// (maxHeldMessages, Go only).
	DefaultMaxHeldMessages = 256
)

// FailureDetectorStats are a TCPFailureDetector's counters.
type FailureDetectorStats struct {
	Probes        uint64 // TCP checks made
	ProbeFailures uint64 // checks that found the member dead
	Swallowed     uint64 // probes received from others and not delivered
	KeptAlive     uint64 // disappearances refused because the member answered
	HeldDropped   uint64 // held messages dropped: over the caps (ErrHeldLimit), or superseded (ErrHeldSuperseded)
	// HeldDroppedAcked counts those of HeldDropped that asked for an ACK but not a
	// synchronized one (channel.OptUseAck without channel.OptSyncAck): the transport acked
	// them on receipt, before the detector saw them, so their sender takes them as delivered
	// and they are lost (TestFailureDetectorHeldCapsConfigurable).
	HeldDroppedAcked uint64
	Suspects         int // members kept although the layer below dropped them (now)
	AddSuspects      int // members announced below but not answering yet (now)
}

// TCPFailureDetectorConfig configures a TCPFailureDetector. The zero value is Tomcat's
// default.
type TCPFailureDetectorConfig struct {
	// ConnectTimeout bounds opening the check connection (Tomcat connectTimeout, default
	// 1000 ms).
	ConnectTimeout time.Duration
	// NoSendTest leaves out the probe frame on the check connection (Tomcat
	// performSendTest=false; by default the probe is written).
	NoSendTest bool
	// PerformReadTest asks for an ACK and waits for it (Tomcat performReadTest, default
	// false).
	PerformReadTest bool
	// ReadTestTimeout bounds the wait for the ACK (Tomcat readTestTimeout, default 5000 ms).
	ReadTestTimeout time.Duration
	// RemoveSuspectsTimeout is how long a member the layer below dropped is kept while it
	// still answers (Tomcat removeSuspectsTimeout, default 300 s). After it the member is
	// reported gone; Tomcat instead only stops re-checking it and keeps it for good.
	// Negative keeps such a member for as long as it answers.
	RemoveSuspectsTimeout time.Duration
	// Probe, if set, replaces the TCP check: it returns nil when m is alive. For tests and
	// for transports other than TCP.
	Probe func(ctx context.Context, m channel.Member) error
	// Flag is the option bit the detector reacts to (Tomcat optionFlag, default 0: every
	// message).
	Flag channel.SendOptions
	// Logger receives the detector's decisions. Nil discards them.
	Logger *slog.Logger
	// MaxHeldSets caps a member's sets of messages held at once, each behind one of its
	// announcements or removals still to go up (see MessageReceived); a message that would
	// start one more is dropped and does not list the member (maxHeldSets, Go only: Tomcat
	// holds nothing; default DefaultMaxHeldSets, 4). Negative is an error. The set of
	// messages held behind a listed member's addition still queued (at most one per
	// member) is not counted (TestFailureDetectorQueuedAdditionsSetIsNotCounted).
	MaxHeldSets int
	// MaxHeldMessages caps the messages in one such set; a message beyond is dropped
	// (maxHeldMessages, Go only; default DefaultMaxHeldMessages, 256). Negative is an error.
	// A dropped message is refused with ErrHeldLimit: a FAIL_ACK to a synchronized-ack
	// sender, but one that asked for a plain ACK (OptUseAck) had it on receipt and is told
	// nothing (FailureDetectorStats.HeldDroppedAcked).
	MaxHeldMessages int
}

// TCPFailureDetector verifies membership changes over TCP (Tribes' TcpFailureDetector).
//
// A member the layer below reports as added is passed up only once a TCP check succeeds;
// one that does not answer yet is re-checked on every heartbeat. A member reported gone is
// checked before it is passed on: one that left with a shutdown (BABY-ALEX) is gone at
// once; one that still answers is kept as a suspect and re-checked on every heartbeat for
// up to RemoveSuspectsTimeout after the latest report (as Tomcat), and reported gone when
// the detector stops (TestFailureDetectorStopReportsItsSuspectsGone); one that does not
// answer is gone. A send that fails for a member (other than with a FAIL_ACK) also triggers that
// check, and counts as such a report; a member the layer below still lists that answers
// is no suspect. Probes received from other nodes are swallowed.
//
// A message received (a probe included) proves its source alive: a member of the layer
// below that is not listed (not verified yet, or found dead by an earlier check, as a
// static member that was restarted) is listed and announced at once, before its message
// goes up, and a check of it that fails meanwhile does not remove it. So a node that comes
// back is a member for its first message, not only after the next heartbeat's check.
//
// A check opens a new connection to the member (ConnectTimeout), writes one probe frame
// (unless NoSendTest), waits for a byte back (the ACK) within ReadTestTimeout if
// PerformReadTest, and closes. Checks of different members run in parallel; the events of
// one member keep their order. A membership listener that blocks holds the events behind
// its call, not the checks: a member found dead meanwhile is dropped from the view at once
// (TestFailureDetectorBlockedRemovalListenerHoldsNoOtherMembersCheck). Heartbeat never
// blocks: checks run on their own goroutines. Events go up one at a time, in the order of
// the changes, outside the detector's locks: a membership listener may stop the channel,
// and the disappearances its membership reports meanwhile go up once the listener
// returned (TestFailureDetectorListenerStopsTheChannel). A member's addition still
// queued (behind a blocked listener) is cancelled by its removal: neither goes up, so a
// member that flaps meanwhile keeps at most a removal and an addition queued, and the
// listeners' view, once they had the events, is Members'
// (TestFailureDetectorFlappingMemberBehindABlockedListenerStaysBounded); a removal then an
// addition both go up. A message of a member whose addition is still queued waits behind
// it (as a held message, see MessageReceived), and that addition is then not cancelled:
// no listener has a message of a member it was not told of
// (TestFailureDetectorMessageWaitsForItsMembersQueuedAddition).
//
// Without the read test, a frozen process (stopped, swapping) still passes: its kernel
// accepts the connection and buffers the probe. Turn PerformReadTest on to catch those.
type TCPFailureDetector struct {
	channel.InterceptorBase
	cfg TCPFailureDetectorConfig
	log *slog.Logger

	probes, failures, swallowed, keptAlive, heldDropped, heldDroppedAcked atomic.Uint64

	evMu        sync.Mutex  // held while the view changes and its event is queued, to keep events in order
	events      callq.Queue // runs the events to go up, one call each, queued under evMu (see deliver)
	evqMu       sync.Mutex
	evq         []*fdEvent                     // the events to go up, in order (pushEvent), guarded by evqMu
	evSpare     int                            // calls in events beyond len(evq) (a coalesced pair's), guarded by evqMu
	lastEv      map[channel.MemberKey]*fdEvent // the latest event of a member in evq, guarded by evqMu
	addsQueued  atomic.Int32                   // plain additions (evAdded) in evq
	mu          sync.Mutex
	levels      channel.Service
	life        context.Context
	endLife     context.CancelFunc
	run         *runGroup // the checking goroutines of this run
	stopping    stoppingRuns
	view        map[channel.MemberKey]channel.Member
	suspects    map[channel.MemberKey]suspect // still answering, dropped below
	addSuspects map[channel.MemberKey]suspect // announced below, not answering
	queues      map[channel.MemberKey]*fdQueue
	held        map[channel.MemberKey]*heldMsgs // members listed again on a message, until its messages went up
	leaving     map[channel.MemberKey]*heldMsgs // members dropped whose held messages go up before the removal
	heldSets    map[channel.MemberKey]int       // a member's sets of held messages not finished (releaseHeld)
	stopDels    []*stopDel                      // the Stops under way: a stopped detector's events go up from the latest's (stopDeliver)
}

type suspect struct {
	m     channel.Member
	since time.Time
}

type fdOpKind uint8

const (
	opAdded   fdOpKind = iota // the layer below added the member
	opGone                    // the layer below (or a failed send) says it is gone
	opRecheck                 // heartbeat: re-check a suspect or an unverified member
	opForced                  // CheckMembers(true): check and act either way
)

type fdOp struct {
	kind fdOpKind
	m    channel.Member
}

type fdQueue struct {
	run        *runGroup // the run whose goroutine drains it
	ops        []fdOp
	running    bool
	applying   bool   // an op was taken from ops and is not applied yet (its check runs)
	delivering bool   // its goroutine delivers events, no op left (drain)
	heard      uint64 // messages received from the member since the queue was made
}

// NewTCPFailureDetector returns a detector; zero fields of cfg get Tomcat's defaults.
func NewTCPFailureDetector(cfg TCPFailureDetectorConfig) (*TCPFailureDetector, error) {
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = DefaultConnectTimeout
	}
	if cfg.ReadTestTimeout == 0 {
		cfg.ReadTestTimeout = DefaultReadTestTimeout
	}
	if cfg.RemoveSuspectsTimeout == 0 {
		cfg.RemoveSuspectsTimeout = DefaultRemoveSuspectsTimeout
	}
	if cfg.ConnectTimeout < 0 || cfg.ReadTestTimeout < 0 {
		return nil, configError("tcpfailure: timeouts must not be negative")
	}
	if cfg.MaxHeldSets < 0 || cfg.MaxHeldMessages < 0 {
		return nil, configError("tcpfailure: MaxHeldSets and MaxHeldMessages must not be negative")
	}
	if cfg.MaxHeldSets == 0 {
		cfg.MaxHeldSets = DefaultMaxHeldSets
	}
	if cfg.MaxHeldMessages == 0 {
		cfg.MaxHeldMessages = DefaultMaxHeldMessages
	}
	d := &TCPFailureDetector{cfg: cfg, log: cfg.Logger}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	d.Flag = cfg.Flag
	return d, nil
}

// Config returns the configuration in use (defaults filled in).
func (d *TCPFailureDetector) Config() TCPFailureDetectorConfig { return d.cfg }

func (d *TCPFailureDetector) initLocked() {
	if d.view == nil {
		d.view = map[channel.MemberKey]channel.Member{}
		d.suspects = map[channel.MemberKey]suspect{}
		d.addSuspects = map[channel.MemberKey]suspect{}
		d.queues = map[channel.MemberKey]*fdQueue{}
		d.held = map[channel.MemberKey]*heldMsgs{}
		d.leaving = map[channel.MemberKey]*heldMsgs{}
		d.heldSets = map[channel.MemberKey]int{}
	}
}

// Start activates checking, then starts the layers below. The checks of a run whose Stop
// returned before they ended (see Stop) are waited for first, within ctx: if ctx ends
// first, Start returns an error wrapping ctx.Err() and starts nothing. If the layers
// below fail to start, checking stops again and the checks under way are waited for with
// channel.FailedStartContext, within the bound the rest of the failed channel Start's
// undo shares (TestTCPFailureDetectorFailedStartSharesTheUndoBound).
func (d *TCPFailureDetector) Start(ctx context.Context, svc channel.Service) error {
	if err := d.stopping.await(ctx, "tcpfailure: start"); err != nil {
		return err
	}
	d.mu.Lock()
	d.initLocked()
	if d.levels == 0 {
		d.life, d.endLife = context.WithCancel(context.Background())
		d.run = newRunGroup()
	}
	d.levels |= svc
	d.mu.Unlock()
	err := d.Next().Start(ctx, svc)
	if err != nil {
		d.mu.Lock()
		d.levels &^= svc
		last := d.levels == 0
		d.mu.Unlock()
		if last {
			// The checks under way are waited for within the failed Start's undo bound,
			// not for as long as ctx allows.
			uctx, cancel := channel.FailedStartContext(ctx)
			sg := d.beginStop()
			err = errors.Join(err, d.deactivate(uctx))
			err = errors.Join(err, d.endStop(uctx, sg, svc))
			cancel()
		}
	}
	return err
}

// Stop stops checking once no level is left, reporting the suspects gone (later events
// pass through unchecked; one whose member has ops left to a goroutine of the run that
// the Stop did not wait for, below, goes behind them, so that they are applied in the
// order they came: TestFailureDetectorStoppedRunKeepsTheOrderOfEvents), then stops the
// layers below. It waits for the checks under way (a probe, the membership listener a
// check's event goes to) until ctx ends: it then returns an error wrapping
// ctx.Err() (joined with the layers below's, which it stops all the same), and they end
// in the background; a later Stop waits for them again within its own ctx, and so does a
// Start before it starts anything (TestFailureDetectorStopHonoursItsContext). Neither
// waits for a check's goroutine inside a membership listener call when they begin (the
// caller may be that listener: TestFailureDetectorListenerStopsTheChannel); a run a
// Start begins then checks that member at once, not after that call, and the member's
// events left to the old goroutine go to the new run's checks, first, once that run
// queues a check of the member, or else once the call returned
// (TestFailureDetectorRestartDoesNotWaitForAnOldListener). Such a Stop or Start does not
// wait for the other goroutines of that run either; one of them still checking a member
// (a check that ignores its context) keeps the member's later events behind that check,
// whatever runs began and ended meanwhile, so that a member's events keep their order
// across restarts (TestFailureDetectorRestartsKeepAMembersOrder). The events a Stop
// passes through (its suspects' removals, those the stopping layers below report) go up
// from a goroutine of its own, which it waits for within ctx like the checks: a listener
// blocking on one makes Stop return an error wrapping ctx.Err(), and they go up in the
// background, in order, once it returned; once another Start or Stop of the channel
// waits for it (channel.LifecycleContended: a listener of one may stop the channel
// again), Stop returns without waiting for them, the level left stopping
// (channel.StillStopping) (TestFailureDetectorStopReturnsAtItsContextWhileAListenerBlocks,
// TestFailureDetectorStopFromTheListenerOfARemovalItReports). A Stop made from inside a
// call the detector made up the stack (a membership listener, a held message's) has them
// go up on its own goroutine, as a stopped detector passes events through (once that
// call returned, when that goroutine is the one delivering the events), or, while another
// goroutine delivers the events, from that one, in order, which it does not wait for: they
// may go up once it returned
// (TestFailureDetectorStopInsideAHeldListenerLeavesItsRemovalsToTheDeliveringGoroutine).
func (d *TCPFailureDetector) Stop(ctx context.Context, svc channel.Service) error {
	sg := d.beginStop()
	d.mu.Lock()
	d.levels &^= svc
	last := d.levels == 0 && d.endLife != nil
	d.mu.Unlock()
	var err error
	if last {
		err = d.deactivate(ctx)
	} else {
		err = d.stopping.await(ctx, "tcpfailure: stop") // a run an earlier Stop left
	}
	err = errors.Join(err, d.Next().Stop(ctx, svc))
	return errors.Join(err, d.endStop(ctx, sg, svc))
}

// deactivate ends checking and waits for the run's goroutines (see Stop).
func (d *TCPFailureDetector) deactivate(ctx context.Context) error {
	d.mu.Lock()
	end, run := d.endLife, d.run
	d.endLife, d.run = nil, nil
	// The run's queues are left to its goroutines, which end once they applied their ops
	// (passed through), and those of the events reported meanwhile (enqueue); a later run
	// makes queues of its own, and does not wait for one held in a listener call
	// (TestFailureDetectorRestartDoesNotWaitForAnOldListener).
	// The suspects (members the layer below dropped that still answered) are reported
	// gone, as the layer below reports its members as it stops: passed through, behind the
	// ops a stopped run's goroutine has left for them
	// (TestFailureDetectorStopReportsItsSuspectsGone).
	gone := make([]fdOp, 0, len(d.suspects))
	for _, s := range d.suspects {
		gone = append(gone, fdOp{kind: opGone, m: s.m})
	}
	d.mu.Unlock()
	if end != nil {
		end()
	}
	for _, o := range gone {
		d.enqueue(o, false)
	}
	return d.stopping.stop(ctx, "tcpfailure", run)
}

// MessageReceived swallows probes (when OKToProcess) and passes everything else up. A
// message (a probe too) is a sign of life of its source: a member of the layer below that
// is not verified (not answering yet, or found dead before) is listed and announced before
// its message goes up, and a check of it running now cannot remove it.
//
// Such a message, and those of the member received until they went up, wait for the
// announcement on a goroutine of their own and then go up from it, in the order they
// came: a membership listener that blocks does not hold the transport's receive
// goroutine, nor the messages of other members behind it there, nor, blocking on an event
// queued after the member's announcement, the member's messages
// (TestFailureDetectorHeldMessagesDoNotWaitForAnotherMembersListener), and a message listener
// that blocks does not hold the membership events, unless the member is dropped meanwhile
// (below: TestFailureDetectorBlockedHeldMessageHoldsItsMembersRemoval). The caller waits for its message to go
// up, and returns its error (TestFailureDetectorHeardFromReturnsTheMessagesError): for at
// most heardFromWait (1 s) when the message is not synchronized-ack, a message still
// waiting then (a listener slow to return) going up later and MessageReceived returning
// nil (TestFailureDetectorSlowListenerDoesNotHoldTheReceivePath); for a synchronized-ack
// message until it went up, so that its sender's ACK or FAIL_ACK tells what the layers
// above did with it, or until the detector's run stops: MessageReceived then returns an
// error wrapping channel.ErrNotStarted (a FAIL_ACK), and the message, unless already under
// way, never goes up (TestFailureDetectorSyncAckWaitsForItsHeldMessage). A stopped
// detector (its Stop under way, the layers below still running) has no run to hold them
// on: the announcement and the member's held messages go up on the receiving goroutine
// that listed the member, which returns once they went up, and no goroutine of the
// detector outlives the Stop
// (TestFailureDetectorStoppedDetectorPassesHeldMessagesOnTheReceiveGoroutine). A panic of
// the layers above on a held message is returned as an error, and logged, as the
// transport's receive goroutine would report it. A member has at most 4 sets of held
// messages at once (each behind one of its announcements or removals still to go up; one
// behind its addition still queued, at most one, is not counted) and
// at most 256 messages in each: a message beyond (a message listener blocking for ever
// while the member is dropped and listed again and again, or while its messages keep
// coming) is dropped, counted in Stats().HeldDropped and logged (the first drop, then
// every power of two), and MessageReceived returns an error wrapping ErrHeldLimit (a
// FAIL_ACK to a synchronized-ack sender); one beyond the sets' cap does not list the
// member (TestFailureDetectorHeldMessagesStayBoundedWhileAListenerBlocks,
// TestFailureDetectorHeldMessagesOfOneListingStayBounded,
// TestFailureDetectorHeldDropsLoggedAtPowersOfTwo).
//
// So a listener sees a member's messages after its addition and before its removal: when
// the member is dropped (a failed check) before its held messages went up, its
// disappearance goes up once they have, from the goroutine delivering the events (a
// message listener that blocks on one of them holds that event and those behind it), and
// Member and Members still find the member until then, so that the channel's sender check
// passes them (TestFailureDetectorHeldMessagesGoUpBeforeTheirMembersRemoval,
// TestFailureDetectorMemberAndMembersAgreeWhileARemovalWaits); a message of the
// member that comes after it was dropped is no longer held with them: it lists the member
// again, as any message of an unlisted member of the layer below, behind the removal
// (TestFailureDetectorMessageAfterItsMembersRemovalListsItAgain), or, the layer below
// no longer listing it, goes up after the removal
// (TestFailureDetectorMessageAfterItsMembersRemovalGoesUpAfterIt), before an announcement
// of the member by a check
// (TestFailureDetectorRelistingByACheckFlushesTheMessagesHeldBehindTheRemoval), and a later one that
// finds the layer below listing it again lists it again behind that message
// (TestFailureDetectorMessageHeldBehindARemovalListsItsMemberBackAgain). A removal run
// from inside the listener of one of the member's held messages (the listener stops the
// channel) leaves the messages behind that one to their goroutine, which passes them up
// after the removal; a later announcement of the member waits for them, so that they do
// not go up as the new listing's (TestFailureDetectorRelistingWaitsForTheMessagesARemovalLeft;
// an announcement by a check too: TestFailureDetectorRelistingByACheckWaitsForTheMessagesARemovalLeft),
// or, delivered on that goroutine itself, drops them (Stats().HeldDropped, ErrHeldSuperseded:
// TestFailureDetectorRelistingInsideAHeldListenerDropsWhatWasLeft). A stopped detector
// passes the removals the stopping membership reports through at once, as it passes every
// event, without waiting for the member's messages, as for a verified member: a listener
// of one may be what stops the channel
// (TestFailureDetectorStoppedDetectorPassesHeldMessagesOnTheReceiveGoroutine,
// TestFailureDetectorHeldMessageWhoseListenerStopsTheChannel).
func (d *TCPFailureDetector) MessageReceived(msg *channel.Message) error {
	probe := d.OKToProcess(msg.Options) && bytes.Equal(msg.Data, tcpFailDetect)
	up := msg
	if probe {
		up = nil // nothing goes up
	}
	h, release, err := d.heardFrom(msg.Source.Key(), up)
	if err != nil {
		return err
	}
	if release != nil {
		release() // a stopped detector: its message went up once it returned
	}
	if h != nil {
		return d.waitHeld(h)
	}
	if probe {
		d.swallowed.Add(1)
		return nil
	}
	return d.Prev().MessageReceived(msg)
}

// SendMessage passes the message down; members it failed for (other than by FAIL_ACK) are
// checked as if the membership had dropped them.
func (d *TCPFailureDetector) SendMessage(ctx context.Context, to []channel.Member, msg *channel.Message) error {
	err := d.Next().SendMessage(ctx, to, msg)
	for _, f := range channel.FaultyMembers(err) {
		if errors.Is(f.Err, channel.ErrAckFailed) || errors.Is(f.Err, context.Canceled) {
			continue
		}
		d.mu.Lock()
		m, known := d.view[f.Member.Key()]
		d.mu.Unlock()
		if known {
			d.enqueue(fdOp{kind: opGone, m: m}, false)
		}
	}
	return err
}

// MemberAdded checks the member before passing the event up.
func (d *TCPFailureDetector) MemberAdded(m channel.Member) {
	d.enqueue(fdOp{kind: opAdded, m: m}, false)
}

// MemberDisappeared checks the member before passing the event up.
func (d *TCPFailureDetector) MemberDisappeared(m channel.Member) {
	d.enqueue(fdOp{kind: opGone, m: m}, false)
}

// Members returns the verified members: those of the layer below that passed a check, in
// its order, then the suspects it dropped that still answer, then the members dropped
// whose removal waits for their held messages (see Member), as Member finds them
// (TestFailureDetectorMemberAndMembersAgreeWhileARemovalWaits). Such a member, found dead,
// is thus still one of the members a send to every member (the channel's SendMessage with
// no members) goes to, and a count of the members (a quorum) counts, until its removal
// goes up, as any member whose removal has not gone up; a send to it that fails reports
// nothing new, the member being dropped already
// (TestFailureDetectorSendToAllWhileARemovalWaits). When they are exactly the
// layer below's (the usual case), it returns that slice itself, so the send path does not
// allocate.
func (d *TCPFailureDetector) Members() []channel.Member {
	below := d.Next().Members()
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.leaving) == 0 && len(below) == len(d.view) && !slices.ContainsFunc(below, func(m channel.Member) bool {
		_, ok := d.view[m.Key()]
		return !ok
	}) {
		return below // the keys of below are distinct, so they are exactly the view's
	}
	out := make([]channel.Member, 0, len(d.view))
	seen := make(map[channel.MemberKey]bool, len(below))
	for _, m := range below {
		k := m.Key()
		if _, ok := d.view[k]; ok {
			out = append(out, m)
			seen[k] = true
		}
	}
	for k, m := range d.view {
		if !seen[k] {
			out = append(out, m)
			seen[k] = true
		}
	}
	for k, hs := range d.leaving {
		if !seen[k] {
			out = append(out, *hs.gone)
		}
	}
	return out
}

// Member looks up a verified member. A member dropped whose messages held behind its
// announcement (see MessageReceived) have not all gone up is still found until they have,
// so that the channel's sender check passes them; Members lists it too.
func (d *TCPFailureDetector) Member(key channel.MemberKey) (channel.Member, bool) {
	d.mu.Lock()
	m, ok := d.view[key]
	if hs := d.leaving[key]; !ok && hs != nil {
		m, ok = *hs.gone, true
	}
	d.mu.Unlock()
	if !ok {
		return channel.Member{}, false
	}
	if fresh, ok := d.Next().Member(key); ok {
		return fresh, true
	}
	return m, true
}

// Heartbeat schedules the re-checks (suspects, unverified members of the layer below) and
// passes the heartbeat down. It does not wait for the checks.
func (d *TCPFailureDetector) Heartbeat() {
	d.schedule(false)
	d.Next().Heartbeat()
}

// CheckMembers schedules a check of the members. With force, every member of the layer
// below and every verified member is checked and added or removed by the result (what
// the TCP ping interceptor asks for); without, only suspects and unverified members are.
func (d *TCPFailureDetector) CheckMembers(force bool) { d.schedule(force) }

// Stats returns the counters.
func (d *TCPFailureDetector) Stats() FailureDetectorStats {
	d.mu.Lock()
	ns, na := len(d.suspects), len(d.addSuspects)
	d.mu.Unlock()
	return FailureDetectorStats{Probes: d.probes.Load(), ProbeFailures: d.failures.Load(),
		Swallowed: d.swallowed.Load(), KeptAlive: d.keptAlive.Load(), HeldDropped: d.heldDropped.Load(),
		HeldDroppedAcked: d.heldDroppedAcked.Load(), Suspects: ns, AddSuspects: na}
}

// Settled reports whether no check is queued or running, in this run or one stopped, and
// no event, nor message held behind one (MessageReceived), waits to go up (for tests and
// orderly waits).
func (d *TCPFailureDetector) Settled() bool {
	d.evMu.Lock()
	defer d.evMu.Unlock()
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.queues) == 0 && len(d.held) == 0 && len(d.leaving) == 0 && d.events.Idle() && d.stopping.ended()
}

func init() {
	Register("tcpfailure", func(p *Props) (channel.Interceptor, error) {
		rst := p.Seconds("removeSuspectsTimeout", DefaultRemoveSuspectsTimeout)
		if rst == 0 {
			rst = -1 // 0 in a spec: keep suspects while they answer
		}
		return NewTCPFailureDetector(TCPFailureDetectorConfig{
			ConnectTimeout:        p.Duration("connectTimeout", DefaultConnectTimeout),
			NoSendTest:            !p.Bool("performSendTest", true),
			PerformReadTest:       p.Bool("performReadTest", false),
			ReadTestTimeout:       p.Duration("readTestTimeout", DefaultReadTestTimeout),
			RemoveSuspectsTimeout: rst,
			Flag:                  channel.SendOptions(p.Int("optionFlag", 0)),
			Logger:                p.Logger(),
			MaxHeldSets:           p.Int("maxHeldSets", DefaultMaxHeldSets),
			MaxHeldMessages:       p.Int("maxHeldMessages", DefaultMaxHeldMessages),
		})
	})
}
