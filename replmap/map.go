package replmap

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/callq"
	"github.com/gotribes/tribes/internal/declimits"
	"github.com/gotribes/tribes/internal/jmember"
	"github.com/gotribes/tribes/internal/ratelog"
	"github.com/gotribes/tribes/rpc"
)

// state is AbstractReplicatedMap$State; the names are Java's.
type state int

const (
	stateNew state = iota
	stateTransferred
	stateInitialized
	stateDestroyed
)

var stateNames = [...]string{"NEW", "STATETRANSFERRED", "INITIALIZED", "DESTROYED"}

// role is what a node holds of an entry (MapEntry's backup, proxy and copy flags; none
// set: primary).
type role int

const (
	rolePrimary role = iota
	roleBackup       // LazyReplicatedMap's one backup copy
	roleProxy        // key, primary and backup only
	roleCopy         // ReplicatedMap's copy on every member
)

// entry is AbstractReplicatedMap.MapEntry.
type entry struct {
	key, value any
	role       role
	primary    *channel.Member
	nodes      []channel.Member // backup nodes
	vbytes     int64            // bytes of the value's serialization stream
	size       int64            // entrySize: what the entry counts towards MaxStoredBytes
	// failed counts Replicate's failed sends, and the sends in full of a dirty Diffable
	// (dirtyDiffable), and covered the failed count a later complete send (full value)
	// read before it marshalled the value: while failed > covered, changes a Diff handed
	// over may not have reached the backup nodes, or a diff of the changes would apply
	// them twice, and Replicate sends the value in full.
	failed, covered uint64
	// sends counts Replicate's reads of the value to send: a republish pass that
	// published the value while it changed sends it again (republishKey). replicating
	// counts the Replicates that read it and have not sent yet.
	sends       uint64
	replicating int
	// claims counts the messages received from other members that made the entry a
	// backup, copy or proxy (update): a republish that sees it change while it publishes
	// leaves the entry to the member that took it over (republishKey).
	claims uint64
	// passOf is, on a primary entry a local Put stored, the primary of the entry it
	// replaced when one of that entry's backup nodes had left the map: that member's
	// departure pass may still send a MSG_PROXY of the entry it read before the Put
	// (kept.go).
	passOf *channel.Member
	// kept is the value, and keptNodes the backup nodes, of the primary entry such a
	// MSG_PROXY from passOf made a proxy, until that member's pass, stepping aside,
	// asks the node to send the value again (kept.go); vbytes still counts it.
	kept      any
	keptNodes []channel.Member
	// stamp names the write of value (stamp.go), of the primary's value for a proxy; 0
	// when unknown. keptStamp is kept's. older, on a primary that took its kept value
	// back over a publish of an older one (supersededLocked), is that older value's.
	stamp, keptStamp, older uint64
	// clock is the Lamport clock of value's write (stamp.go), of the primary's value
	// for a proxy; 0 when unknown. keptClock is kept's.
	clock, keptClock uint64
}

// Map is Tribes' LazyReplicatedMap: every entry lives on its primary node (the node that
// put or last got it) and one backup node; the other map members hold a proxy (key,
// primary and backup, no value) and fetch the value from the backup on Get. It is wire
// compatible with org.apache.catalina.tribes.tipis.LazyReplicatedMap of the same name.
// All methods are safe for concurrent use.
type Map struct {
	cfg   Config
	id    []byte
	codec *codec
	log   *slog.Logger

	mu       sync.Mutex
	state    state
	entries  map[string]*entry // by key's serialization stream
	members  []channel.Member  // map members, in the order they joined
	lastSeen map[channel.MemberKey]time.Time
	next     int   // round-robin index of the next backup (currentNode)
	stored   int64 // sum of the entries' sizes
	refused  uint64
	// nonMember counts map messages and requests refused because their sender is not
	// a member of the channel.
	nonMember uint64
	// diffsNotApplied counts received diffs for a value that is not a Diffable, or
	// that its ApplyDiff rejected.
	diffsNotApplied uint64
	// olderIgnored counts received publishes older than the entry's value (olderLocked).
	olderIgnored uint64
	// clock is the largest write clock the map made or heard of (stamp.go): a Put's is
	// one more (tickLocked).
	clock uint64
	// stoppedMembers holds, by key, the members whose MSG_STOP came last (no MSG_INIT or
	// MSG_START since), as fromMember returned them; refusedStopped counts the messages
	// refused for that.
	stoppedMembers map[channel.MemberKey]channel.Member
	refusedStopped uint64
	rlog           *ratelog.Limiter // what peers can repeat (refusals, diffs), logged rate-limited
	// keyReplicates tracks, by key, the Replicates and Removes under way and those a Put
	// watches (replicatedSinceLocked); a key is listed only while any is.
	keyReplicates map[string]*keyReplicates
	// keyLocks holds the send locks of the keys a Put or Replicate holds or waits for
	// (lockKey).
	keyLocks map[string]*keyLock
	// spareKeyLocks and spareKeyReplicates are unlisted key locks and keyReplicates kept
	// for reuse (maxSpareKeyLocks).
	spareKeyLocks      []*keyLock
	spareKeyReplicates []*keyReplicates

	startCalled bool
	// queuing is set while Start transfers the state after its MSG_START: received map
	// messages wait in queue (queuedBytes of data) until the state is applied.
	queuing     bool
	queue       []queued
	queuedBytes int
	queueKeys   map[string]queuedKey // what queue holds of each key (join.go)
	// applying is the part of the queue applyQueued applies now, after the state
	// (stateApplied), which entries holds (join.go, queuedFull); applyingKeys indexes it.
	applying     []queued
	applyingKeys map[string]queuedKey
	stateApplied bool
	// donorCancel, while not nil, ends the wait for the state transfer's reply from
	// donor (memberDisappeared).
	donor       channel.MemberKey
	donorCancel context.CancelFunc
	rpc         *rpc.Channel // set by New
	removeL     []func()
	stopped     chan struct{} // closed by Stop: ends a heartbeat's ping
	starts      startPasses   // what members' MSG_STARTs left to do (started.go)
	fetch       backupFetch   // the values asked of primaries after Start (fetch.go)
	// life is the context of the passes' sends (passes.go), ended by endLife once Stop
	// marks the map stopped; passes counts the passes running, gone the departed
	// members' passes.
	life    context.Context
	endLife context.CancelFunc
	passCtx context.Context // the passes' MadePrimary calls', marked (passes.go)
	passes  passTracker
	gone    map[channel.MemberKey]*gonePass
	// calls queues the application's calls (Config.MadePrimary, Config.Removed, a
	// value's Accessed) in the order of the changes they report (calls.go).
	calls  callq.Queue
	inCall atomic.Int32 // calls of the queue under way (deliverWait)
	// forwards are the removals of primaries the node sends its backups (forward.go);
	// forwarding counts their goroutine, which Stop waits for.
	forwards   removeForwards
	forwarding sync.WaitGroup
	// async is set when the map's sends are queued by a dispatch (tracksAsync), and
	// asyncSends counts, per key, those not completed (asyncsend.go).
	async      bool
	asyncSends asyncSends
	// republishing holds the keys a republishKey publishes anew, each with a channel
	// closed once it returned; republishWaiters counts the republishes waiting for one.
	republishing     map[string]chan struct{}
	republishWaiters int
	// resending holds the keys whose value a member's pass asked the node to send its
	// backup nodes again and whose Replicate has not read the entry yet (resend.go).
	resending map[string]struct{}
	// keptSince holds the keys of the entries holding a kept value or a Put's pass mark,
	// with the time it was kept or made: the heartbeat clears the marks older than
	// AccessTimeout (kept.go). keptCount and keptBytes count the kept values and their
	// bytes, bounded by maxKeptValues and maxKeptBytes.
	keptSince map[string]time.Time
	keptCount int
	keptBytes int64
}

// New returns a map configured by cfg. It already answers the other members' map
// messages (as Java's constructor registers its listeners before it sends anything);
// Start joins it to the map of the same name on the other members. Stop releases it,
// started or not. Two maps with the same name on one channel are refused
// (rpc.ErrDuplicateID).
func New(cfg Config) (*Map, error) {
	switch {
	case cfg.Channel == nil:
		return nil, fmt.Errorf("%w: replmap.Config.Channel is required", ErrInvalidConfig)
	case cfg.Name == "":
		return nil, fmt.Errorf("%w: replmap.Config.Name is required", ErrInvalidConfig)
	case cfg.RPCTimeout < 0 || cfg.AccessTimeout < 0 || cfg.MaxMessageBytes < 0 || cfg.MaxEntries < 0 ||
		cfg.MaxStoredBytes < 0 || cfg.MaxForwardQueue < 0 || cfg.MaxForwarders < 0:
		return nil, fmt.Errorf("%w: negative replmap.Config timeout or limit", ErrInvalidConfig)
	}
	maxBytes, err := declimits.MaxBytes("replmap.Config", cfg.MaxMessageBytes, cfg.Limits)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	cfg.MaxMessageBytes = maxBytes
	id := make([]byte, 0, len(cfg.Name))
	for _, r := range cfg.Name {
		if r > 0xFF {
			return nil, fmt.Errorf("%w: replmap.Config.Name %q is not ISO-8859-1", ErrInvalidConfig, cfg.Name)
		}
		id = append(id, byte(r))
	}
	if cfg.RPCTimeout == 0 {
		cfg.RPCTimeout = DefaultRPCTimeout
	}
	if cfg.AccessTimeout == 0 {
		cfg.AccessTimeout = DefaultAccessTimeout
	}
	if cfg.SendOptions == 0 {
		cfg.SendOptions = channel.OptDefault
	}
	if cfg.MemberSUID == 0 {
		cfg.MemberSUID = jmember.SUID
	}
	if cfg.MaxMessageBytes == 0 {
		cfg.MaxMessageBytes = DefaultMaxMessageBytes
	}
	cfg.Limits.MaxBytes = int64(cfg.MaxMessageBytes)
	if cfg.MaxEntries == 0 {
		cfg.MaxEntries = DefaultMaxEntries
	}
	if cfg.MaxStoredBytes == 0 {
		cfg.MaxStoredBytes = DefaultMaxStoredBytes
	}
	if cfg.MaxForwardQueue == 0 {
		cfg.MaxForwardQueue = DefaultMaxForwardQueue
	}
	if cfg.MaxForwarders == 0 {
		cfg.MaxForwarders = DefaultMaxForwarders
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := &Map{cfg: cfg, id: id, codec: newCodec(cfg.MemberSUID, cfg.MaxMessageBytes).withLimits(cfg.Limits), log: log,
		rlog:    ratelog.New(ratelog.Config{Logger: log}),
		entries: map[string]*entry{}, lastSeen: map[channel.MemberKey]time.Time{}, stopped: make(chan struct{}),
		stoppedMembers: map[channel.MemberKey]channel.Member{}, async: tracksAsync(cfg)}
	m.life, m.endLife = context.WithCancel(context.Background())
	m.passCtx = context.WithValue(context.Background(), passKey{}, m)
	// A reply carries a MapMessage (a state transfer's, the whole state) in an RpcMessage:
	// the rpc layer decodes up to MaxMessageBytes and the envelope, within Limits (the
	// sum saturating at math.MaxInt: TestLargestMessageLimitsAccepted).
	limits := cfg.Limits
	limits.MaxBytes = 0 // MaxMessageBytes
	r, err := rpc.New(rpc.Config{Channel: cfg.Channel, ID: id, Handler: rpc.HandlerFunc(m.reply), LeftOver: m.leftOver,
		MaxMessageBytes: min(cfg.MaxMessageBytes, math.MaxInt-len(id)-rpcEnvelope) + len(id) + rpcEnvelope, Limits: limits})
	if err != nil {
		return nil, fmt.Errorf("replmap %q: %w", cfg.Name, err)
	}
	l := &listener{m}
	m.rpc = r
	m.removeL = []func(){cfg.Channel.AddMessageListener(l),
		cfg.Channel.AddMembershipListener(channel.MembershipFuncs{Disappeared: m.channelMemberLeft})}
	return m, nil
}

// Name returns the map's name.
func (m *Map) Name() string { return m.cfg.Name }

// Start joins the map (AbstractReplicatedMap.init): MSG_INIT to every channel member,
// MSG_START, waiting for the map members' replies (Java sends it last), state transfer
// (MSG_STATE) from the first map member that answered (the next one when it gives no
// reply, TestStateFromNextMemberWhenDonorLeaves), then the map messages received since
// the MSG_START, queued until the state is applied (see join.go).
// Members without the map answer at once; one that does not answer makes Start wait up to
// RPCTimeout, as in Java, only while no map member answered: MSG_INIT goes again every
// second meanwhile, which a member that lists the joiner late answers. An error means the requests could not be sent (Java's
// terminate=true), or ctx ended (TestStartWithEndedContextFails): the map is stopped
// again.
func (m *Map) Start(ctx context.Context) error {
	m.mu.Lock()
	if m.startCalled || m.state == stateDestroyed {
		m.mu.Unlock()
		return fmt.Errorf("%w: %q", ErrStarted, m.cfg.Name)
	}
	m.startCalled = true
	m.mu.Unlock()

	err := m.broadcastRPC(ctx, msgInit)
	if err == nil {
		err = m.announce(ctx)
	}
	if err == nil {
		m.transferState(ctx)
		m.applyQueued(ctx)
		m.startFetch()
	}
	if err != nil {
		_ = m.Stop(ctx)
		return fmt.Errorf("replmap %q: start: %w", m.cfg.Name, err)
	}
	m.setState(stateInitialized)
	return nil
}

// Stop leaves the map (breakdown): MSG_STOP to every channel member, then the local
// entries are dropped. The map cannot be started again. The error is the STOP's send
// error for the members it failed for, except a FAIL_ACK (synchronized-ack SendOptions)
// from a member that runs no such map: a channel member that never was a map member or
// whose map stopped (it sent its MSG_STOP) before, which a Go channel answers with
// FAIL_ACK since no listener takes the message (channel.ErrUnaccepted; a Java node
// answers ACK). Java ignores every error of the STOP. Stop first waits, within ctx, for
// the republish passes: a map member's that left (their new backups, the entries taken
// over: TestStopWaitsForAMemberStopPass), those of members' MSG_STARTs (run at once:
// TestLaterStopWaitsForTheStartPass) and a new member's backups of the entries that had
// none (TestStopWaitsForTheJoinRepublish). They send nothing once they see the map stopped:
// when ctx ends with one still running, the error wraps ctx's error, and a later Stop
// waits for it. Called from a pass's Config.MadePrimary with its context, it waits for
// no pass and returns ErrStopping. The map is stopped in any case. Idempotent.
func (m *Map) Stop(ctx context.Context) error {
	wait := ctx // what the passes are waited for with
	own := m.fromOwnPass(ctx)
	if own { // the pass waits for the call of this Stop: nothing to wait for
		c, cancel := context.WithCancel(ctx)
		cancel()
		wait = c
	}
	m.stopFetch(wait)
	m.finishStarts(wait)
	_ = m.waitPasses(wait) // the departed members' entries get their new backups first
	m.mu.Lock()
	if m.state == stateDestroyed {
		m.mu.Unlock()
		if own {
			return ErrStopping
		}
		return m.waitPasses(ctx)
	}
	m.state = stateDestroyed
	m.endLife()
	r, remove := m.rpc, m.removeL
	close(m.stopped)
	m.queue, m.queueKeys, m.queuedBytes, m.queuing = nil, nil, 0, false
	m.mu.Unlock()
	perr := ErrStopping
	if !own {
		perr = m.waitPasses(ctx)
	}
	m.forwarding.Wait() // its sends end with the map's life
	var err error
	_ = r.Close(ctx) // it takes no non-members' requests: nothing to wait for
	if members := m.cfg.Channel.Members(); len(members) > 0 {
		err = m.stopFailures(m.send(ctx, members, &message{Type: msgStop, Primary: m.local()}))
	}
	for _, f := range remove {
		f()
	}
	m.mu.Lock()
	clear(m.entries)
	clear(m.keptSince) // the entries' kept values and marks went with them (kept.go)
	m.keptCount, m.keptBytes = 0, 0
	clear(m.stoppedMembers)
	m.stored = 0
	m.members, m.lastSeen = nil, map[channel.MemberKey]time.Time{}
	m.mu.Unlock()
	return errors.Join(perr, err)
}

// stopFailures drops from a MSG_STOP's send error the members that answered FAIL_ACK
// and are no map members (read after the send: a member whose MSG_STOP arrived during
// it is gone), or whose channel reported that no listener accepted the message: they
// run no such map, which is what the STOP tells them anyway. Over TCP a FAIL_ACK carries
// no reason (the error wraps channel.ErrAckFailed only), so map membership decides.
func (m *Map) stopFailures(err error) error {
	faulty := channel.FaultyMembers(err)
	if faulty == nil {
		return err
	}
	m.mu.Lock()
	kept := slices.DeleteFunc(slices.Clone(faulty), func(f channel.FaultyMember) bool {
		return errors.Is(f.Err, channel.ErrUnaccepted) ||
			errors.Is(f.Err, channel.ErrAckFailed) && len(m.mapMembersOfLocked(f.Member)) == 0
	})
	m.mu.Unlock()
	if len(kept) == len(faulty) {
		return err
	}
	var se *channel.SendError
	errors.As(err, &se)
	return channel.NewSendError(se.MessageID, kept)
}
