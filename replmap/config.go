package replmap

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/jserial"
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
	// Limits bound the Java deserialization of what the map receives beyond its
	// MapMessages' own bounds: the RPC replies (its rpc.Channel's rpc.Config.Limits; the
	// rpc.Channels of one channel.Channel share that decoding, the largest of their limits
	// applying: TestRPCRepliesBeyondLimits), a state transfer's entry list, and the key
	// and value streams of the MapMessages it receives (the map's own decoding, these
	// limits exactly). Zero fields take the defaults: MaxDepth
	// jserial.DefaultMaxDepth (1000), MaxArrayLen jserial.DefaultMaxArrayLen (1<<24),
	// MaxHandles jserial.DefaultMaxHandles (1<<20; for the state list 32 per entry up to
	// MaxEntries if that is more). Limits.MaxBytes is MaxMessageBytes: set either, or both
	// to the same value; New refuses two different ones, and negative limits, with
	// ErrInvalidConfig. A state list beyond them is not applied: the joiner starts without
	// the state and logs an error wrapping jserial.ErrLimit (TestStateListBeyondLimits);
	// a received key or value beyond them is refused with an error wrapping ErrBadMessage
	// and jserial.ErrLimit, the entry left as it was (TestValueBeyondLimitsRefused).
	// No Java attribute (Java reads with ObjectInputStream, bounded only by a JVM-wide
	// serial filter, if any).
	Limits jserial.DecoderConfig
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
	// MaxForwardQueue bounds the removals a lazy map's node queues for one backup node:
	// the MSG_REMOVEs naming itself the primary that it sends the backup nodes of a
	// primary another member's MSG_REMOVE dropped (see the package documentation), while
	// earlier ones to that node are still being sent. A removal past it is not sent and
	// is counted in Stats.ForwardedRemovesDropped. 0 means DefaultMaxForwardQueue; no
	// Java attribute (Tomcat's maps forward no removals).
	MaxForwardQueue int
	// MaxForwarders bounds the goroutines that send those removals, one backup node's
	// queue each at a time: while that many backup nodes' sends block at once (each up
	// to the transport's send timeout), the queue of another backup node waits until one
	// of the sends returns (TestForwardersBoundedAndAWaitingQueueTakenOver,
	// TestForwardersAtTheConfiguredCap). 0 means DefaultMaxForwarders (8); no Java
	// attribute (Tomcat's maps forward no removals).
	MaxForwarders int
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
