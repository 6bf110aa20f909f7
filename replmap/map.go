package replmap

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/callq"
	"github.com/gotribes/tribes/internal/jmember"
	"github.com/gotribes/tribes/internal/ratelog"
	"github.com/gotribes/tribes/jserial"
	"github.com/gotribes/tribes/rpc"
)

// Defaults of Config.
const (
	// DefaultRPCTimeout is LazyReplicatedMap's usual rpcTimeout (the constructor's timeout).
	DefaultRPCTimeout = 5 * time.Second
	// DefaultAccessTimeout is accessTimeout: how long a ping waits and how long a map
	// member may stay silent.
	DefaultAccessTimeout = 5 * time.Second
)

// Sentinel errors, for errors.Is.
var (
	// ErrInvalidConfig wraps every error of New; it is channel.ErrInvalidConfig.
	ErrInvalidConfig = channel.ErrInvalidConfig
	// ErrNotStarted: the map is not started, or stopped.
	ErrNotStarted = errors.New("replmap: map not started")
	// ErrStarted: Start was called on a map that was started before (a stopped map
	// cannot start again).
	ErrStarted = errors.New("replmap: map already started")
	// ErrUnavailable: Get found a proxy entry whose backup did not return the value
	// (Java logs it and returns null).
	ErrUnavailable = errors.New("replmap: value not retrieved from its backup")
	// ErrStopping: Stop was called with the context of a Config.MadePrimary call of a
	// republish pass, which Stop waits for: it stopped the map without waiting for the
	// passes (a later Stop from elsewhere waits for them).
	ErrStopping = errors.New("replmap: Stop called from a MadePrimary call of a pass it waits for")
	// ErrNoEntry: Get asked a proxy entry's backup for the value and every backup node
	// answered that it holds no entry for the key (Java's null reply to
	// MSG_RETRIEVE_BACKUP): the key was removed on the other nodes. The error wraps
	// ErrUnavailable too; a backup that does not answer never gives ErrNoEntry.
	ErrNoEntry = errors.New("replmap: the backup holds no entry for the key")
	// ErrNoBackup: no map member took an entry's value (Put, Replicate); the local node
	// holds it alone.
	ErrNoBackup = errors.New("replmap: no backup")
	// ErrRemoveIncomplete: a member published the key (its Put, a Get taking the
	// entry over, a Replicate in full) while each of Remove's MSG_REMOVE sends (the
	// first one and 4 again) was under way, the last one included: that member's
	// entry, or its backup or proxies, may still hold the key, on a primary that holds
	// nothing. Remove then returns the value it found and this error (wrapped); a
	// Remove of the key again settles it once the members stop publishing it.
	ErrRemoveIncomplete = errors.New("replmap: the key was published during the Remove's last MSG_REMOVE, a member may still hold it")
	// ErrMemberStopped: a received MSG_BACKUP, MSG_COPY, MSG_PROXY, MSG_ACCESS or
	// MSG_NOTIFY_MAPMEMBER came from a member after its MSG_STOP (a change of its still
	// under way as its map stopped), and was refused: applied, it would name the stopped
	// node as the entry's primary again (Java applies it). A MSG_INIT or MSG_START from
	// that member (a new map there) ends the refusal.
	ErrMemberStopped = errors.New("replmap: message from a member whose map stopped")
	// ErrType: a key or value that jserial cannot marshal; it wraps jserial.ErrType.
	ErrType = jserial.ErrType
)

// Config configures a Map.
type Config struct {
	// Channel carries the map's messages (required). It must be started before Start.
	Channel *channel.Channel
	// Name is the map's name (mapContextName, required); its ISO-8859-1 bytes are the
	// map id and the rpc id, so maps with the same name on different nodes form one map.
	// Tomcat's BackupManager uses "<manager name>-map". Only characters up to U+00FF.
	Name string
	// RPCTimeout bounds the start-up RPCs and a Get's RETRIEVE_BACKUP (rpcTimeout,
	// DefaultRPCTimeout; BackupManager uses 15 s). A context with an earlier deadline wins.
	RPCTimeout time.Duration
	// AccessTimeout is how long a heartbeat's ping waits and how long a map member may
	// leave pings unanswered before it is dropped (accessTimeout, DefaultAccessTimeout).
	AccessTimeout time.Duration
	// SendOptions are the options of the map's messages (channelSendOptions, default
	// channel.OptDefault, USE_ACK; BackupManager uses 6, USE_ACK|SYNC_ACK).
	SendOptions channel.SendOptions
	// MemberSUID is the serialVersionUID members are written with: the default is
	// Tomcat 10.1.40+/11.0.6+'s; see staticsvc.MemberImplSUID10 and MemberImplSUID9 for
	// older Java nodes.
	MemberSUID int64
	// Replicated makes the map a ReplicatedMap instead of a LazyReplicatedMap: every map
	// member holds a copy of every entry (MSG_COPY, state transfer with MSG_STATE_COPY).
	// Every node of one map must agree. Default false.
	Replicated bool
	// MaxMessageBytes bounds a received MapMessage (DefaultMaxMessageBytes, 64 MiB; Java
	// has no limit). A state transfer's reply carries every entry the donor holds in
	// one MapMessage: a joiner receives a larger state only if this and the transport's
	// frame limit (transport/nio's MaxFrameSize, 16 MiB by default) are raised above it.
	// When the reply is lost to either limit, the joiner starts without the state and
	// logs why.
	MaxMessageBytes int
	// MaxEntries bounds the entries (proxies included) the other map members can make
	// the map hold: a received message or state-transfer entry that would create one
	// more is refused with ErrLimit; existing entries still update. Local Puts are never
	// refused but count. No Java attribute (Java has no limit); 0 means
	// DefaultMaxEntries.
	MaxEntries int
	// MaxStoredBytes bounds, in the same way, the key and value serialization streams
	// and the members (their wire size) every entry records, together: a received entry,
	// value or member list that would grow them beyond it is refused with ErrLimit. 0
	// means DefaultMaxStoredBytes.
	MaxStoredBytes int64
	// Values converts the values the map receives in full into the Go values it holds
	// and back, for instance into a Go type implementing Diffable, so that diffs
	// received for them apply. nil holds and sends what jserial decodes and marshals.
	// No Java attribute.
	Values ValueCodec
	// MadePrimary, if set, is called with an entry's key and value when the local node
	// becomes the primary of an entry it did not own: a Get of a proxy, backup or copy,
	// or a backup or copy taking over from a primary that left, or whose map restarted
	// (its MSG_START while this node backs up for it), or a map that Start named the
	// primary of a proxy getting its value from the backup (MapOwner's objectMadePrimary;
	// Tomcat's BackupManager marks the session primary and accessed). It runs with no
	// lock held, on the goroutine of the Get, of the membership event, of the message or
	// of Start's fetch pass, unless another goroutine is making the map's calls (this,
	// Removed, a value's Accessed): the map makes them one at a time, in the order of
	// the changes they tell of, and that goroutine makes it after the one under way, so
	// that a call that takes a while is not overtaken by a later change's
	// (TestMadePrimaryAndRemovedInOrder; Java calls them as they come). A Get returns
	// once its call returned, or its ctx ended; one called from a call's own context,
	// or while one of these calls is under way (a Removed that gets another key:
	// TestGetFromRemovedDoesNotWaitForItself; the Get may be on another goroutine), does
	// not wait for its call, which comes after the one under way. ctx is the Get's, or
	// for a pass's call (a member's departure or restart, Start's fetch:
	// TestStopFromFetchMadePrimaryReturns) one without deadline that a Stop called with
	// it, or with a context derived from it, recognises: that Stop stops the map (its
	// MSG_STOP sent) without waiting for the passes and returns ErrStopping
	// (TestStopFromMadePrimaryReturns). Stop waits for the passes, and so for the calls a
	// pass makes on its own goroutine, but not for one that another goroutine making the
	// map's calls makes for it (the pass has ended then). A Stop called there with another
	// context waits for the passes until that context ends, the call's own among them
	// when it makes the call.
	MadePrimary func(ctx context.Context, key, value any)
	// Removed, if set, is called with an entry's key and value (nil where this node held
	// none: a proxy) when a member removed it (MSG_REMOVE), not for the local node's own
	// Remove. It runs on the goroutine that received the message, with no lock held,
	// unless another goroutine is making the map's calls: then in order after the one
	// under way, as MadePrimary; a receive that finds more than 1024 calls queued then
	// waits for its own, so that the transport stops reading the member meanwhile
	// (TestRemovedCallsQueuedBounded). No Java attribute (Tomcat's ClusterSingleSignOn
	// has no such hook).
	Removed func(key, value any)
	// Logger receives the map's logs; nil discards them.
	Logger *slog.Logger
}

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
	// stoppedMembers holds the channel members whose MSG_STOP came last (no MSG_INIT or
	// MSG_START since); refusedStopped counts the messages refused for that.
	stoppedMembers map[channel.MemberKey]struct{}
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
		cfg.MaxStoredBytes < 0:
		return nil, fmt.Errorf("%w: negative replmap.Config timeout or limit", ErrInvalidConfig)
	}
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
	if cfg.MaxEntries == 0 {
		cfg.MaxEntries = DefaultMaxEntries
	}
	if cfg.MaxStoredBytes == 0 {
		cfg.MaxStoredBytes = DefaultMaxStoredBytes
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := &Map{cfg: cfg, id: id, codec: newCodec(cfg.MemberSUID, cfg.MaxMessageBytes), log: log,
		rlog:    ratelog.New(ratelog.Config{Logger: log}),
		entries: map[string]*entry{}, lastSeen: map[channel.MemberKey]time.Time{}, stopped: make(chan struct{}),
		stoppedMembers: map[channel.MemberKey]struct{}{}}
	m.life, m.endLife = context.WithCancel(context.Background())
	m.passCtx = context.WithValue(context.Background(), passKey{}, m)
	// A reply carries a MapMessage (a state transfer's, the whole state) in an RpcMessage:
	// the rpc layer decodes up to MaxMessageBytes and the envelope.
	r, err := rpc.New(rpc.Config{Channel: cfg.Channel, ID: id, Handler: rpc.HandlerFunc(m.reply), LeftOver: m.leftOver,
		MaxMessageBytes: cfg.MaxMessageBytes + len(id) + rpcEnvelope})
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
			errors.Is(f.Err, channel.ErrAckFailed) && indexOf(m.members, f.Member) < 0
	})
	m.mu.Unlock()
	if len(kept) == len(faulty) {
		return err
	}
	var se *channel.SendError
	errors.As(err, &se)
	return channel.NewSendError(se.MessageID, kept)
}

func (m *Map) setState(s state) {
	m.mu.Lock()
	if m.state != stateDestroyed {
		m.state = s
	}
	m.mu.Unlock()
}

func (m *Map) local() *channel.Member {
	l := m.cfg.Channel.LocalMember()
	return &l
}

// rpcContext bounds ctx by RPCTimeout.
func (m *Map) rpcContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, m.cfg.RPCTimeout)
}

// broadcastRPC sends msgInit to every channel member (broadcast(type, true); announce
// sends MSG_START): the first reply is handled here, the later ones arrive as left-overs.
// Only a failure to send, or ctx ending, is an error; missing replies are not, as in
// Java, nor those of members that left the channel during the call (rpc.ErrMemberLeft).
//
// While no map member answered, the message is sent again every initRetry within
// RPCTimeout: a member whose membership lists the joiner late dropped the first one as a
// non-member's (TestStartWithMemberListingJoinerLate); a reply to an earlier one still
// counts (leftOver). Members that answer NoRpcChannelReply, or cannot be sent to, end
// the wait as before.
func (m *Map) broadcastRPC(ctx context.Context, t msgType) error {
	rctx, cancel := m.rpcContext(ctx)
	defer cancel()
	for {
		members := m.cfg.Channel.Members()
		if len(members) == 0 {
			return nil
		}
		actx, acancel := context.WithTimeout(rctx, initRetry)
		resp, err := m.call(actx, members, &message{Type: t, Primary: m.local()})
		acancel()
		for _, r := range resp {
			m.mapMemberAdded(r.Member)
		}
		if len(resp) > 0 || rctx.Err() != nil || !errors.Is(err, rpc.ErrTimeout) || len(m.Members()) > 0 {
			return startCallError(ctx, err)
		}
	}
}

// initRetry is how long a joiner's MSG_INIT waits for a reply before it is sent again
// (broadcastRPC).
const initRetry = time.Second

// startCallError returns the error of a start-up RPC that makes Start fail: a failure
// to send, or ctx ending; not missing replies, as in Java, nor those of members that
// left the channel during the call (rpc.ErrMemberLeft).
func startCallError(ctx context.Context, err error) error {
	if err != nil && (ctx.Err() != nil || !errors.Is(err, rpc.ErrTimeout) && !errors.Is(err, rpc.ErrMemberLeft)) {
		return err
	}
	return nil
}

// call sends msg as an RPC that waits for the first reply.
func (m *Map) call(ctx context.Context, to []channel.Member, msg *message) ([]rpc.Response, error) {
	return m.callMode(ctx, to, msg, rpc.FirstReply)
}

func (m *Map) callMode(ctx context.Context, to []channel.Member, msg *message, mode rpc.Mode) ([]rpc.Response, error) {
	msg.MapID = m.id
	o, err := m.codec.object(msg)
	if err != nil {
		return nil, err
	}
	return m.rpc.Call(ctx, to, o, mode, m.cfg.SendOptions)
}

// decodeReply decodes the MapMessage of an RPC reply.
func (m *Map) decodeReply(r rpc.Response) (*message, error) {
	if r.Message == nil {
		return nil, fmt.Errorf("%w: null reply from %s", ErrBadMessage, r.Member.String())
	}
	return decodeMessage(r.Message)
}

// send sends msg as a plain Java-serialized message.
func (m *Map) send(ctx context.Context, to []channel.Member, msg *message) error {
	msg.MapID = m.id
	b, err := m.codec.marshal(msg)
	if err != nil {
		return err
	}
	return m.cfg.Channel.SendMessage(ctx, to, &channel.Message{Options: m.cfg.SendOptions &^ channel.OptByteMessage, Data: b})
}

// Members returns the map members: the other nodes that run this map.
func (m *Map) Members() []channel.Member {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.members)
}

func indexOf(members []channel.Member, mb channel.Member) int {
	k := mb.Key()
	return slices.IndexFunc(members, func(x channel.Member) bool { return x.Key() == k })
}

func same(a *channel.Member, b channel.Member) bool { return a != nil && a.Key() == b.Key() }

// only reports whether nodes is exactly [mb].
func only(nodes []channel.Member, mb channel.Member) bool {
	return len(nodes) == 1 && nodes[0].Key() == mb.Key()
}

// exclude returns members without those in out.
func exclude(members, out []channel.Member) []channel.Member {
	return slices.DeleteFunc(slices.Clone(members), func(x channel.Member) bool { return indexOf(out, x) >= 0 })
}

// keyOf returns the index of key: its serialization stream.
func keyOf(key any) (string, error) {
	b, err := jserial.Marshal(key)
	if err != nil {
		return "", fmt.Errorf("replmap: key %T: %w", key, err)
	}
	return string(b), nil
}
