package delta

import (
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"time"

	"github.com/gotribes/tribes/channel"
)

// Defaults, with the Tomcat attribute each one mirrors.
const (
	// DefaultMaxInactiveInterval is a session's idle timeout (Tomcat session-timeout,
	// 30 minutes = maxInactiveInterval 1800 s).
	DefaultMaxInactiveInterval = 30 * time.Minute
	// DefaultExpireInterval is how often the background sweep looks for expired sessions
	// (Tomcat processExpiresFrequency 6 × backgroundProcessorDelay 10 s).
	DefaultExpireInterval = 60 * time.Second
	// DefaultStateTransferTimeout bounds the state transfer at start (stateTransferTimeout).
	DefaultStateTransferTimeout = 60 * time.Second
	// DefaultSendAllSessionsSize is the number of sessions per transfer chunk
	// (sendAllSessionsSize).
	DefaultSendAllSessionsSize = 1000
	// DefaultSendAllSessionsBytes also ends a chunk once its encoding reaches this size,
	// so that large sessions stay well below the transport's frame limit (no Tomcat
	// equivalent).
	DefaultSendAllSessionsBytes = 4 << 20
	// DefaultMemberWait is how long a starting manager that sees no member to ask for
	// sessions waits for one to appear (no Tomcat equivalent; Tomcat's channel start sleeps
	// instead).
	DefaultMemberWait = 3 * time.Second
	// DefaultTransferIdleTimeout is how long a joiner waits without hearing from the
	// member it asked for every session before it asks again (no Tomcat equivalent:
	// Tomcat waits for stateTransferTimeout).
	DefaultTransferIdleTimeout = 10 * time.Second
	// DefaultCatchUpWindow is how long after its start a joiner still catches up with the
	// members that list it late or that it lists late (no Tomcat equivalent; see
	// Config.CatchUpWindow).
	DefaultCatchUpWindow = 60 * time.Second
	// DefaultTransferGCPercent is the collector's target (GOGC) while a manager receives
	// its state transfer (no Tomcat equivalent; see Config.TransferGCPercent).
	DefaultTransferGCPercent = 400
	// DefaultMaxConcurrentTransfers is how many state transfers a node serves at once (no
	// Tomcat equivalent: Tomcat answers each request on the thread that received it).
	DefaultMaxConcurrentTransfers = 2
	// DefaultAsyncBatchInterval is how long, under load, an asynchronously replicating
	// manager waits after the start of a channel message of several deltas before it
	// sends the next one (no Tomcat equivalent; see Config.AsyncBatchInterval).
	DefaultAsyncBatchInterval = time.Millisecond
	// DefaultAckedBatchWait is how long, under load, the next batch of an acked
	// replicating manager waits for the requests the last one released (no Tomcat
	// equivalent; see Config.AckedBatchWait).
	DefaultAckedBatchWait = 2 * time.Millisecond
)

// ReplicationMode chooses how session messages are sent.
type ReplicationMode uint8

const (
	// ReplicateAsync sends without waiting for any acknowledgement, as Tomcat's default
	// channelSendOptions (8, asynchronous). The middleware replicates when the handler has
	// returned; a node that dies right after answering may lose the last change, and the
	// client's next request on another node may arrive before the change (a stale
	// session, or a new one if its creation has not arrived): use it with a sticky
	// balancer, ReplicateAcked without one.
	ReplicateAsync ReplicationMode = iota
	// ReplicateAcked sends with use_ack+sync_ack: a send returns once every member applied
	// the message. The middleware replicates before the first byte of the response, so a
	// client that got a successful response knows every member has the change.
	ReplicateAcked
)

// String returns "async" or "acked".
func (r ReplicationMode) String() string {
	switch r {
	case ReplicateAsync:
		return "async"
	case ReplicateAcked:
		return "acked"
	}
	return fmt.Sprintf("ReplicationMode(%d)", uint8(r))
}

// Config configures a Manager. The zero value of every field except Name means its
// default; booleans are named so that false is Tomcat's default.
type Config struct {
	// Name identifies the application across the cluster: Tomcat's context name such as
	// "localhost#/app" (host#path, "localhost#" for ROOT), its manager's name when the
	// Cluster element is in the Engine; for a Cluster in the Host Tomcat names it by its
	// path alone ("/app"). Required; one Manager per name on a Cluster.
	Name string
	// JvmRoute is appended to new session ids ("<32 hex>.<JvmRoute>") for sticky load
	// balancers, and is what the middleware's jvmRoute binding renames ids to (Tomcat: the
	// Engine's jvmRoute). Empty means no suffix (and no binding).
	JvmRoute string

	// MaxInactiveInterval is the idle timeout of new sessions, in whole seconds on the
	// wire. 0 means DefaultMaxInactiveInterval; negative means sessions never expire.
	MaxInactiveInterval time.Duration
	// ExpireInterval is how often the background sweep runs. 0 means
	// DefaultExpireInterval; negative disables the sweep (call ProcessExpires yourself).
	ExpireInterval time.Duration

	// Replication chooses async (default) or acked sends: Tomcat's channelSendOptions on
	// the SimpleTcpCluster, 8 (its default) for ReplicateAsync, 6 for ReplicateAcked.
	Replication ReplicationMode
	// TolerateUnreachable keeps a replication from failing because of members the
	// transport could not connect to at all (channel.ErrConnect: the process is down or
	// its port closed), as long as every other member applied it. Such a member has no
	// copy to go stale, and fetches every session by state transfer when it starts again.
	// Members that accepted the connection but did not acknowledge (timeout, FAIL_ACK)
	// still fail the replication. Off by default, because a member unreachable from here
	// but reachable by clients (a partition that the membership has not noticed) would
	// then serve stale sessions; turn it on with a membership service that does not
	// detect failures (static members) if a dead member must not make every acked request
	// fail. Only matters with acked replication.
	TolerateUnreachable bool
	// ClusterSize is the number of nodes of the whole cluster, this one included, for a
	// quorum of acked replication. With it, a session change (a delta, an id change, an
	// invalidation) is acknowledged only when a majority of ClusterSize nodes hold it: this
	// node and at least ClusterSize/2 members that acknowledged it. Otherwise the call
	// fails with an error wrapping ErrNoQuorum (the middleware answers 503, as for any
	// failed acked send) and a delta's changes stay pending. It guards against a
	// partition that the membership noticed: without it the nodes cut off from the rest
	// see fewer members, or none, and go on acknowledging changes the others never get
	// (Tomcat has no such setting and does the same); with it only the side holding a
	// majority acknowledges changes. A node that was without the quorum, when it has it
	// again, refreshes its copies from every member (the highest version of each session
	// wins, and copies of sessions the others removed meanwhile go) before it
	// acknowledges changes again (Stats.QuorumRefreshes); until then its middleware
	// serves no request for a session, reads included, nor one naming a session id it
	// does not hold (503, Stats.StaleRequestsRefused).
	// The quorum adds a floor: every member in the view must still acknowledge
	// (TolerateUnreachable excepted). With BinaryCodec it also covers partitions of some
	// links only: a node that loses a member asks the others to probe it (ErrNoQuorum
	// meanwhile, about a second at most), and of two nodes cut off from each other while
	// others reach both, the one with the higher unique id stands down as a node without
	// the quorum does (ClusterStats.PartialCuts). 0 (default): no quorum. Needs acked replication (send options with
	// use_ack). See docs/consistency.md, "Partitions".
	ClusterSize int
	// SendOptions, if non-zero, replaces the channel options Replication implies
	// (0 for async, use_ack|sync_ack for acked). For example channel.OptAsync when the
	// channel has a message dispatch interceptor.
	SendOptions channel.SendOptions
	// AsyncBatchInterval paces asynchronous replication under load (ReplicateAsync with
	// BinaryCodec): once the manager's sending goroutine has sent a channel message that
	// carried several messages (requests ended while it sent the previous one), it sends
	// the next one no sooner than this after that one started. What is queued meanwhile
	// leaves together, and the later changes of a session whose delta is queued merge into
	// its next one, so the members receive fewer and larger messages; a message that
	// leaves alone (an idle node) is followed at once. The middleware's requests never wait
	// for it (the members' copies are up to this much later); calls that wait for their
	// message to leave (Manager.Replicate, Create, Invalidate) may wait up to this much
	// longer. 0 means DefaultAsyncBatchInterval;
	// negative sends each channel message as soon as the previous one left.
	AsyncBatchInterval time.Duration
	// AckedBatchWait lets acked replication (ReplicateAcked with BinaryCodec) gather the
	// requests of a steady load into one channel message per round trip. Concurrent
	// requests already share a channel message per member and its ACKs (group commit),
	// one batch being sent at a time; when a batch's send ends, the next batch waits up to
	// this long until it holds as many messages as were outstanding: those of the batch
	// that ended (its clients come back with their next requests) and those it gathered
	// meanwhile, and only while they keep coming: a quarter of this long without a new one
	// ends the wait. A request that finds no send in flight waits too if the last one ended
	// less than this long ago, for as many messages as that one carried. With a pool of
	// clients that each send their next request once answered, the requests then travel
	// together and the members receive fewer, larger messages (less CPU per request on
	// every node). Two waits that run out within 16 waits turn waiting off for 4 times this
	// long, twice as long each time it happens again (up to 128 times), so that requests
	// of unrelated or slow clients seldom wait. 0 means DefaultAckedBatchWait; negative
	// never waits (no Tomcat equivalent: Tomcat sends each request's message on its own).
	AckedBatchWait time.Duration

	// SkipStateTransfer starts the manager without asking other nodes for their sessions:
	// it is ready at once and holds only what they replicate from then on
	// (TestSkipStateTransferAsksNoMember). No Tomcat equivalent: Tomcat's
	// stateTransferTimeout 0 still asks, and takes the sessions when they come, without
	// waiting for them.
	SkipStateTransfer bool
	// StateTransferTimeout bounds the whole state transfer, MemberWait included. 0 means
	// DefaultStateTransferTimeout; negative waits forever.
	StateTransferTimeout time.Duration
	// MemberWait is how long a starting manager waits for a member to appear when there
	// is none to ask for sessions (none yet, or every one asked had none to give) before
	// it decides it is the first node and starts empty. Memberships that need a moment to
	// list their peers (a failure detector verifying them, a static member's first
	// heartbeat) then still give a restarted node every session. A member that appears
	// during the wait is asked at once; the wait ends as soon as a transfer completes.
	// A member that answers the request with FAIL_ACK (it runs no session manager, or does
	// not list this node yet) is asked again every second until the wait ends, unless
	// another member is there to ask.
	// The first node of a cluster is ready only after it. 0 means DefaultMemberWait;
	// negative does not wait (Tomcat's rule: no member, no transfer).
	MemberWait time.Duration
	// CatchUpWindow is how long after its start a joiner (BinaryCodec) goes on catching up
	// once it is ready: a member that refused its catch-up because it did not list the
	// joiner yet (FAIL_ACK once MemberWait is over), or whose request failed otherwise, is
	// asked again every second while listed, and a member the joiner lists only after its
	// catch-up began, or that answered (or was the donor) then left and is added again, is
	// asked once it is added, for the sessions it sent a message about since the joiner
	// started (docs/failover.md). A late answer to a request whose wait ended (see
	// TransferIdleTimeout) is not taken for the next request's (AskEcho). A member's
	// first failed request is logged as a warning, the others at debug level, and the
	// window's end names those still not caught up with the number of their failed
	// requests, those whose requests failed and that then left too.
	// A running node past that window (without ClusterSize) asks a member that left its
	// view and is added again for what it sent since it left, again every second while it refuses or its
	// request fails, for CatchUpWindow after it came back
	// (TestMemberBackAfterLeavingGetsTheRenamesMadeMeanwhile).
	// 0 means DefaultCatchUpWindow; negative asks no member back, and none once the
	// joiner is ready: a request that failed before it was ready (not a refusal) is then
	// asked again every second while the member is listed, until MemberWait is over
	// (within StateTransferTimeout), and a member still failing then is named in a
	// warning.
	CatchUpWindow time.Duration
	// TransferIdleTimeout is how long a joiner waits without any sign of the sessions it
	// asked a member for (no chunk of them, no message from that member still arriving)
	// before it asks that member again: the member's answer was lost, or it gave up
	// sending it (a send of it failed or timed out), and would not send it again unasked.
	// Each further request waits twice as long as the one before; StateTransferTimeout
	// still bounds the whole. A Go donor ignores a request from a member whose transfer it
	// is still serving; a Tomcat donor serialises every session anew for each request, so
	// with a Tomcat donor that sends all its sessions in one message
	// (sendAllSessions="true") keep this above the time it takes to serialise them.
	// A joiner's catch-up request (CatchUpWindow) whose acknowledgement timed out waits
	// this long for the answer, then counts as failed, and its member is asked again a
	// second later; the answer to the earlier request, should it arrive then, is ignored
	// (from a member of this version, which echoes the request's id: AskEcho).
	// 0 means DefaultTransferIdleTimeout; negative never asks again (Tomcat's behaviour).
	TransferIdleTimeout time.Duration
	// SendAllSessionsSize is the number of sessions per transfer chunk a donor sends.
	// 0 means DefaultSendAllSessionsSize.
	SendAllSessionsSize int
	// SendAllSessionsBytes ends a chunk early once it is this large. 0 means
	// DefaultSendAllSessionsBytes.
	SendAllSessionsBytes int
	// MaxConcurrentTransfers bounds the state transfers this node serves at once, to
	// different members; further requests wait for a slot (each member has at most one
	// transfer running or waiting, so the waiting ones are bounded by the membership).
	// A joiner's catch-up answer (AskRecent) takes one of as many slots of its own, one
	// per member at a time: a member's catch-up request while its previous one is
	// answered or waits is dropped (TestCatchUpFloodBounded).
	// 0 means DefaultMaxConcurrentTransfers.
	MaxConcurrentTransfers int
	// TransferGCPercent is the garbage collector's target (GOGC, see runtime/debug's
	// SetGCPercent) of the whole process while this manager receives its state transfer,
	// from its request for the sessions until it is ready; then the earlier value is put
	// back, unless something else changed it meanwhile. A joiner keeps almost everything
	// it allocates during the transfer, so at the default GOGC of 100 the collector would
	// run each time the heap doubles and mark every session received so far; a higher
	// target saves most of those cycles and adds only the transfer's garbage since the
	// last cycle to the peak heap. A memory limit (GOMEMLIMIT) still bounds the heap. It
	// is only raised, never lowered, and not when the collector is off; when several
	// managers of the process receive transfers at once, the first one's value applies.
	// 0 means DefaultTransferGCPercent; negative leaves the collector alone.
	TransferGCPercent int
	// KeepStaleTransferMessages replays every message queued during the state transfer,
	// even those older than the snapshot (Tomcat stateTimestampDrop=false).
	KeepStaleTransferMessages bool

	// SkipListenersOnReplication keeps listeners from firing for changes applied from
	// other nodes (Tomcat notifyListenersOnReplication=false).
	SkipListenersOnReplication bool
	// ExpireSessionsOnShutdown expires every session, and tells the cluster, when the
	// manager stops (Tomcat expireSessionsOnShutdown).
	ExpireSessionsOnShutdown bool
	// DetectMutations re-encodes, when a request ends, every attribute the request read
	// with Get and replicates those whose encoding changed: a value mutated in place (a
	// map, a struct behind a pointer) then replicates without MarkDirty. It costs one
	// encoding per read attribute per request. Encodings that are not deterministic
	// (gob of a map) may replicate unchanged values.
	DetectMutations bool

	// Codec encodes attribute values. Nil means GobCodec.
	Codec ValueCodec

	// SessionListeners and AttributeListeners are called for every session of the manager.
	// A nil entry is refused (ErrInvalidConfig).
	SessionListeners   []SessionListener
	AttributeListeners []AttributeListener
	// NamedListeners are session listeners a session can attach by name
	// (Session.AttachListener); the attachment replicates, the listener is looked up by
	// name on each node (Tomcat's replicated session listeners). A nil one is refused.
	NamedListeners map[string]SessionListener
	// NamedListener, if set, gives the listener of a name NamedListeners lacks (nil:
	// none): names made at run time, such as the single sign-on id that names Tomcat's
	// ClusterSingleSignOnListener (sso.SSO.Listeners).
	NamedListener func(name string) SessionListener

	// Logger receives lifecycle logs and warnings. Nil discards them, where Tomcat logs
	// to catalina.out: members that have no manager of this name are then seen only in
	// Stats.TransferDeclined.
	Logger *slog.Logger
}

func (c *Config) fill() error {
	if c.Name == "" {
		// Say what to give (TestNewManagerWithoutNameSaysWhatToGive).
		return fmt.Errorf("%w: Config.Name is required: the application's name, the same on every node, "+
			"Tomcat's context name host#path (\"localhost#/app\", \"localhost#\" for ROOT)", ErrInvalidConfig)
	}
	if c.JvmRoute != "" && !validRoute(c.JvmRoute) {
		return fmt.Errorf("%w: JvmRoute %q must be letters, digits, '-' or '_'", ErrInvalidConfig, c.JvmRoute)
	}
	if c.Replication > ReplicateAcked {
		return fmt.Errorf("%w: unknown replication mode %d", ErrInvalidConfig, c.Replication)
	}
	if c.MaxInactiveInterval == 0 {
		c.MaxInactiveInterval = DefaultMaxInactiveInterval
	}
	if c.MaxInactiveInterval > 0 && c.MaxInactiveInterval < time.Second {
		return fmt.Errorf("%w: MaxInactiveInterval below one second", ErrInvalidConfig)
	}
	if c.ExpireInterval == 0 {
		c.ExpireInterval = DefaultExpireInterval
	}
	if c.StateTransferTimeout == 0 {
		c.StateTransferTimeout = DefaultStateTransferTimeout
	}
	if c.MemberWait == 0 {
		c.MemberWait = DefaultMemberWait
	}
	if c.TransferIdleTimeout == 0 {
		c.TransferIdleTimeout = DefaultTransferIdleTimeout
	}
	if c.CatchUpWindow == 0 {
		c.CatchUpWindow = DefaultCatchUpWindow
	}
	if c.SendAllSessionsSize < 0 || c.SendAllSessionsBytes < 0 || c.MaxConcurrentTransfers < 0 {
		return fmt.Errorf("%w: negative SendAllSessionsSize, SendAllSessionsBytes or MaxConcurrentTransfers", ErrInvalidConfig)
	}
	if c.MaxConcurrentTransfers == 0 {
		c.MaxConcurrentTransfers = DefaultMaxConcurrentTransfers
	}
	if c.SendAllSessionsSize == 0 {
		c.SendAllSessionsSize = DefaultSendAllSessionsSize
	}
	if c.SendAllSessionsBytes == 0 {
		c.SendAllSessionsBytes = DefaultSendAllSessionsBytes
	}
	if c.TransferGCPercent == 0 {
		c.TransferGCPercent = DefaultTransferGCPercent
	}
	if c.AsyncBatchInterval == 0 {
		c.AsyncBatchInterval = DefaultAsyncBatchInterval
	}
	if c.AckedBatchWait == 0 {
		c.AckedBatchWait = DefaultAckedBatchWait
	}
	if c.SendOptions == 0 && c.Replication == ReplicateAcked {
		c.SendOptions = channel.OptUseAck | channel.OptSyncAck
	}
	if c.ClusterSize < 0 {
		return fmt.Errorf("%w: negative ClusterSize", ErrInvalidConfig)
	}
	if c.ClusterSize > 0 && (c.Replication != ReplicateAcked || !c.SendOptions.WaitsForAck()) {
		return fmt.Errorf("%w: ClusterSize needs acked replication (a quorum counts acknowledgements)", ErrInvalidConfig)
	}
	if err := c.checkListeners(); err != nil {
		return err
	}
	if c.Codec == nil {
		c.Codec = GobCodec{}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// checkListeners refuses nil listeners (a nil interface or a nil pointer), which would
// panic at the first event instead (TestNewManagerRefusesNilListeners).
func (c *Config) checkListeners() error {
	for i, l := range c.SessionListeners {
		if isNil(l) {
			return fmt.Errorf("%w: SessionListeners[%d] is nil", ErrInvalidConfig, i)
		}
	}
	for i, l := range c.AttributeListeners {
		if isNil(l) {
			return fmt.Errorf("%w: AttributeListeners[%d] is nil", ErrInvalidConfig, i)
		}
	}
	for name, l := range c.NamedListeners {
		if isNil(l) {
			return fmt.Errorf("%w: NamedListeners[%q] is nil", ErrInvalidConfig, name)
		}
	}
	return nil
}

// isNil reports whether v is nil or a nil pointer.
func isNil(v any) bool {
	if v == nil {
		return true
	}
	rv := reflect.ValueOf(v)
	return rv.Kind() == reflect.Pointer && rv.IsNil()
}

// Errors. Use errors.Is.
var (
	// ErrInvalidConfig wraps every configuration error.
	ErrInvalidConfig = errors.New("delta: invalid configuration")
	// ErrNoQuorum: with Config.ClusterSize, fewer than a majority of the cluster's nodes
	// acknowledged a session change (a partition, or members down).
	ErrNoQuorum = errors.New("delta: no quorum: a majority of ClusterSize nodes does not hold the change")
	// ErrStopped: the manager is stopped (or was never started).
	ErrStopped = errors.New("delta: manager not running")
	// ErrInvalidSession: the session expired or was invalidated.
	ErrInvalidSession = errors.New("delta: session is no longer valid")
	// ErrNoSession: a method that changes a session was called on a nil *Session (a
	// request that has none), or one that changes or creates a session on a nil
	// *Request (FromContext outside the middleware or for a skipped URL).
	ErrNoSession = errors.New("delta: no session (nil *Session)")
	// ErrDuplicateManager: a manager with that name is already running on the cluster.
	ErrDuplicateManager = errors.New("delta: a manager with this name is already registered")
	// ErrStateTransferTimeout: the state transfer did not complete in StateTransferTimeout.
	ErrStateTransferTimeout = errors.New("delta: state transfer timed out")
	// ErrStopping: Stop was called with the context of a SessionDestroyed event that the
	// manager's running Stop fired (SessionEvent.Context), or Cluster.Close with the context
	// of one that the cluster's running Close fired, or of an event of a held message's
	// application that the running Close waits for, or of an event of one of the
	// manager's goroutines (its sweep, its state transfer), which Stop waits for: that
	// Stop or Close completes on its own, once the listener returned.
	ErrStopping = errors.New("delta: called with the context of a listener that a running Stop or Close waits for; " +
		"it completes once the listener returned")
	// ErrSessionIDInUse: ChangeSessionID or CreateWithID was given an id another session
	// has (or, for CreateWithID, had until recently, or had before a rename that did not
	// reach every member yet).
	ErrSessionIDInUse = errors.New("delta: session id already in use")
	// ErrInvalidSessionID: ChangeSessionID or CreateWithID was given an id that is not 1
	// to 256 characters from [A-Za-z0-9._-].
	ErrInvalidSessionID = errors.New("delta: invalid session id")
)

// StateTransferError reports a state transfer that did not complete. The manager is
// ready anyway (it serves with the sessions it got, as Tomcat does); WaitReady returns
// this error so that the application can decide to stop instead.
type StateTransferError struct {
	// Context is the manager's name.
	Context string
	// Attempts lists the donors asked, in order, and why each one did not finish.
	Attempts []TransferAttempt
	// Sessions is how many sessions were received anyway.
	Sessions int
	// Elapsed is the time spent.
	Elapsed time.Duration
	// Err is ErrStateTransferTimeout, ErrStopped, a context error, or ErrAllDonorsFailed.
	// errors.Is and errors.As look into each attempt's error as well: a transfer that
	// failed because the joiner's transport refused the donor's message matches
	// channel.ErrMessageTooLarge.
	Err error
}

// TransferAttempt is one donor asked during a state transfer.
type TransferAttempt struct {
	Donor channel.Member
	// Err is why this donor did not complete the transfer (nil for the one that did).
	Err error
}

// Error names the context, the time spent, the sessions received, the cause and each
// donor attempt's error.
func (e *StateTransferError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "delta: state transfer for %q failed after %v (%d sessions received): %v",
		e.Context, e.Elapsed.Round(time.Millisecond), e.Sessions, e.Err)
	for _, a := range e.Attempts {
		if a.Err != nil {
			fmt.Fprintf(&b, "; donor %s: %v", a.Donor.Addr(), a.Err)
		} else {
			fmt.Fprintf(&b, "; donor %s: no answer", a.Donor.Addr())
		}
	}
	return b.String()
}

// Unwrap returns Err and the error of every attempt that has one.
func (e *StateTransferError) Unwrap() []error {
	errs := []error{e.Err}
	for _, a := range e.Attempts {
		if a.Err != nil {
			errs = append(errs, a.Err)
		}
	}
	return errs
}

// Reasons a donor is abandoned during a transfer (TransferAttempt.Err).
var (
	// ErrDonorGone: the donor left the membership during the transfer.
	ErrDonorGone = errors.New("delta: donor disappeared")
	// ErrDonorDeclined: the donor has no manager for the context, or is itself waiting
	// for a state transfer (it answered EVT_ALL_SESSION_NOCONTEXTMANAGER).
	ErrDonorDeclined = errors.New("delta: donor has no sessions to give (no context manager or not ready)")
	// ErrNoSessionManager: the member runs no session manager at all (no Cluster on its
	// channel): it answered the request with FAIL_ACK, the channel's answer to a message
	// no listener accepted (channel.Config.AckUnaccepted).
	ErrNoSessionManager = errors.New("delta: member runs no session manager")
	// ErrAllDonorsFailed (StateTransferError.Err): every member was asked and none
	// completed the transfer, at least one for a reason other than having no sessions to
	// give (ErrNoSessionManager, ErrDonorDeclined, or no connection to it at all,
	// channel.ErrConnect, as a static member that does not run yet): its request failed
	// otherwise (the connection was lost, say), it left (ErrDonorGone), or a message of
	// its transfer was lost (the attempt's error wraps channel.ErrMessageTooLarge or
	// channel.ErrConnectionLost).
	ErrAllDonorsFailed = errors.New("delta: no member completed the state transfer")
)
