package interceptors

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/callq"
)

// Defaults of Order, with Tomcat's attribute names.
const (
	// DefaultOrderExpire is expire: how long a message waits for the ones before it.
	DefaultOrderExpire = 3000 * time.Millisecond
	// DefaultOrderMaxQueue is maxQueue: how many messages may wait per sender (Tomcat's
	// default is Integer.MAX_VALUE, which let one sender make the node hold every message
	// it sent within Expire).
	DefaultOrderMaxQueue = 4096
	// DefaultOrderMaxQueueBytes is maxQueueBytes (Go only): how many bytes of messages may
	// wait per sender.
	DefaultOrderMaxQueueBytes = 64 << 20
	// DefaultOrderMaxHeldBytes is maxHeldBytes (Go only): what the messages waiting for
	// all senders together may count (their bytes plus 256 each).
	DefaultOrderMaxHeldBytes = 1 << 30
)

// orderForgetIdle is how long the receive state of a sender that is not a member is kept
// after its last message (Heartbeat).
const orderForgetIdle = time.Minute

// orderMaxStrangers bounds the receive states of senders that were not members when their
// first message came, where the channel checks senders: beyond it, such a sender's
// messages are passed up at once, unordered, without a state (the channel drops them),
// so that invented sources, one per connection, cannot make Order keep a state each for
// orderForgetIdle.
const orderMaxStrangers = 1024

// OrderTrailerLen is the size of the counter Order appends to each message.
const OrderTrailerLen = 4

// ErrShortMessage is wrapped by the error for a received message too short to carry the
// trailer an interceptor expects.
var ErrShortMessage = errors.New("tribes: message too short for the interceptor's trailer")

// OrderConfig configures an Order interceptor. The zero value is Tomcat's default.
type OrderConfig struct {
	// Expire is how long a received message may wait for missing earlier ones; then it
	// and everything before it is delivered and the gap is skipped (Tomcat expire, 3 s).
	Expire time.Duration
	// DropExpired drops messages that waited longer than Expire instead of delivering
	// them (Tomcat forwardExpired=false). Only those are dropped: messages released with
	// them that waited less are delivered in order, and a late message (its number was
	// skipped already, or its sender restarted its counter) is delivered, as in Tomcat.
	DropExpired bool
	// MaxQueue is how many messages may wait per sender; when the queue reaches it,
	// everything waiting is delivered in order, the gaps skipped (Tomcat maxQueue; default
	// DefaultOrderMaxQueue, 4096, where Tomcat's is Integer.MAX_VALUE).
	MaxQueue int
	// MaxQueueBytes is how many bytes of messages (after the trailer is stripped) may wait
	// per sender; when the queue reaches it, everything waiting is delivered as for
	// MaxQueue (no Tomcat equivalent; default DefaultOrderMaxQueueBytes, 64 MiB).
	MaxQueueBytes int
	// MaxHeldBytes caps what the messages waiting for all senders together count: their
	// bytes (after the trailer is stripped) plus 256 each for the bookkeeping. When the
	// queues reach it, the queue of the sender whose messages count the most is released
	// as for MaxQueue: everything waiting there is delivered in order, the gaps skipped
	// (with DropExpired, those that waited longer than Expire are dropped first), and a
	// message that comes later for a skipped number is delivered late
	// (OrderStats.HeldFlush). No Tomcat equivalent (Tribes bounds nothing); default
	// DefaultOrderMaxHeldBytes, 1 GiB, or MaxQueueBytes if that is larger.
	MaxHeldBytes int
	// Flag restricts ordering to messages carrying these option bits (Tomcat optionFlag,
	// default 0 = every message). Both ends must agree.
	Flag channel.SendOptions
	// AcceptNonMembers holds the out-of-order messages of senders that are not members of
	// the channel (neither the local member nor one the chain below lists, as the
	// channel's own sender check asks) also where the channel checks senders
	// (InterceptorBase.SendersChecked). By default such a message is never held: it is
	// passed up at once, in arrival order, and its sender's counter moves past it (the gap
	// is skipped), so that a stranger cannot make the node keep up to MaxQueue messages
	// for Expire; the channel then drops it, unless a channel.NonMemberListener wants it.
	// A channel with channel.Config.AcceptNonMembers, or without a Membership, has every
	// sender's messages ordered. Set it when a NonMemberListener needs non-members'
	// messages in order (no Tomcat equivalent: Tribes orders every sender's messages;
	// default false).
	AcceptNonMembers bool
}

// OrderStats are an Order interceptor's counters.
type OrderStats struct {
	Sent        uint64 // messages sent per destination (one trailer each)
	Delivered   uint64 // received messages passed up in order
	Reordered   uint64 // received messages that had to wait for an earlier one
	Expired     uint64 // waiting messages released (or dropped) because Expire passed
	Skipped     uint64 // sequence numbers given up on (never arrived)
	Late        uint64 // messages numbered below the counter (skipped already, or a restarted sender), delivered at once
	Dropped     uint64 // expired messages dropped (DropExpired)
	QueueFlush  uint64 // times a sender's queue reached MaxQueue or MaxQueueBytes
	HeldFlush   uint64 // times a sender's queue was released because all senders' reached MaxHeldBytes
	NonMember   uint64 // out-of-order messages of non-members passed up without waiting (AcceptNonMembers)
	Waiting     int    // messages waiting now
	WaitingSize int    // their bytes
	HeldBytes   int    // what they count against MaxHeldBytes (bytes plus 256 each)
	UpErrors    uint64 // errors of deliveries made on behalf of another message
	ShortFrames uint64 // received messages too short for the trailer
}

// Order is Tribes' OrderInterceptor: it delivers the messages of each sender in the order
// they were sent. On the way down it sends the message to each destination separately
// (in parallel), with a per-destination counter (starting at 1) appended as a 4-byte
// big-endian trailer. On the way up it strips the trailer and holds out-of-order messages
// until the missing ones arrive, at most Expire. The trailer is Java's, so Order
// interoperates with Java's OrderInterceptor.
//
// Stopping the receiver (Stop with channel.SvcReceiver) delivers what still waits, each
// sender's in order, as MemberDisappeared does, within Stop's context (then it goes on in
// the background and Stop returns the context's error).
//
// Put Order above MessageDispatch (and anything else that may reorder sends) so that the
// counters follow the application's order. A message whose delivery is made on behalf of a
// later one (it was waiting) cannot report a listener error to its sender.
//
// Where the channel checks senders, a non-member's message is never held: one numbered
// ahead of its sender's counter is passed up at once (OrderConfig.AcceptNonMembers), and at
// most 1 024 senders that were not members at their first message get a receive state:
// the messages of further ones are passed up at once without one, their numbers used up
// unrecorded, so a member added within a minute of that starts its count at its first
// message (one that joined meanwhile is in step at once; the first message of another
// member added then, if it overtook an earlier one, is delivered first). The
// receive state of a sender that is not a member (Channel.Member) is forgotten by the
// first heartbeat after it sent nothing for a minute with nothing waiting, so that invented
// sources cannot make it grow (Tomcat keeps it until memberDisappeared, which a non-member
// never gets). Where non-members' messages are ordered (channel.Config.AcceptNonMembers,
// OrderConfig.AcceptNonMembers), such a sender's next message after a pause of a minute is
// numbered above 1 and waits Expire for the numbers before it, then is delivered, or
// dropped with DropExpired.
type Order struct {
	channel.InterceptorBase
	cfg OrderConfig

	outMu sync.Mutex
	out   map[channel.MemberKey]*atomic.Uint32

	inMu      sync.Mutex
	in        map[channel.MemberKey]*orderIn
	strangers int // states in in marked stranger (orderMaxStrangers)
	// overflowAt is when a stranger beyond orderMaxStrangers last had a message passed
	// up without a state (unix ns; 0: never): see orderIn.adopt.
	overflowAt atomic.Int64

	// held is what the waiting messages of all senders count against MaxHeldBytes.
	held atomic.Int64
	// leaving: senders that disappeared whose released messages are being delivered
	// (orderleave.go), guarded by inMu; nLeaving is its size.
	leaving  map[channel.MemberKey]*orderIn
	nLeaving atomic.Int32
	// releases: the deliveries Stop makes of the messages it releases, one Stop's after
	// another's, on a goroutine of their own (orderheld.go).
	releases callq.Queue
	// rxStarts counts the Starts of the receiver: a release queued by a Stop before the
	// receiver started again leaves the new run's messages held (orderheld.go).
	rxStarts atomic.Uint64
	// rxStopped: the receiver stopped (Stop, or a Start that failed) and has not started
	// again; a message that would wait for an earlier one then is released at once, unless
	// a release has still to reach its sender (relPending, orderrecv.go).
	rxStopped atomic.Bool
	// relPending counts the releases queued (Stop, a failed Start) that have not finished
	// their first pass over the senders: a message that would wait on the stopped receiver
	// is left to such a release when it has not reached its sender yet (orderIn.relRun).
	relPending atomic.Int64

	sent, delivered, reordered, expired, skipped, late, dropped, flushes, heldFlushes, upErrors, short, nonMember atomic.Uint64
}

// orderIn is the receive state for one sender.
type orderIn struct {
	mu         sync.Mutex
	next       uint32             // the number delivered next
	held       orderHeld          // waiting
	ready      []*channel.Message // in order, to be delivered by whoever delivers
	delivering bool               // a goroutine is delivering ready messages
	gone       bool               // removed by MemberDisappeared or Heartbeat; look the sender up again
	leaving    bool               // in Order.leaving: its sender disappeared, its messages are being delivered
	stranger   bool               // counted in Order.strangers; guarded by Order.inMu
	// adopt: the state was made when its sender was added as a member, within
	// orderForgetIdle of a stranger's message passed up without a state (beyond
	// orderMaxStrangers; MemberAdded). The member may be that stranger, joined since: the
	// numbers of the messages it sent as one were used up unrecorded, so its first
	// message starts the count instead of waiting Expire for numbers that never come.
	adopt    bool
	src      channel.Member // the sender (its address and id only)
	relRun   uint64         // the run (rxStarts) whose release last reached this sender (releaseAll)
	lastRecv time.Time      // when its last message arrived
}

// NewOrder returns an Order interceptor.
func NewOrder(cfg OrderConfig) (*Order, error) {
	if cfg.Expire == 0 {
		cfg.Expire = DefaultOrderExpire
	}
	if cfg.MaxQueue == 0 {
		cfg.MaxQueue = DefaultOrderMaxQueue
	}
	if cfg.MaxQueueBytes == 0 {
		cfg.MaxQueueBytes = DefaultOrderMaxQueueBytes
	}
	if cfg.MaxHeldBytes == 0 {
		cfg.MaxHeldBytes = max(DefaultOrderMaxHeldBytes, cfg.MaxQueueBytes)
	}
	if cfg.Expire < 0 || cfg.MaxQueue < 0 || cfg.MaxQueueBytes < 0 || cfg.MaxHeldBytes < 0 {
		return nil, configError("order: Expire, MaxQueue, MaxQueueBytes and MaxHeldBytes must not be negative")
	}
	o := &Order{cfg: cfg, out: map[channel.MemberKey]*atomic.Uint32{}, in: map[channel.MemberKey]*orderIn{}}
	o.Flag = cfg.Flag
	return o, nil
}

// Config returns the configuration in use (defaults filled in).
func (o *Order) Config() OrderConfig { return o.cfg }

// Stats returns a snapshot of the counters.
func (o *Order) Stats() OrderStats {
	senders := o.senders()
	waiting, size := 0, 0
	for _, s := range senders {
		s.mu.Lock()
		waiting += s.held.len()
		size += s.held.bytes
		s.mu.Unlock()
	}
	return OrderStats{
		Sent: o.sent.Load(), Delivered: o.delivered.Load(), Reordered: o.reordered.Load(),
		Expired: o.expired.Load(), Skipped: o.skipped.Load(), Late: o.late.Load(),
		Dropped: o.dropped.Load(), QueueFlush: o.flushes.Load(), HeldFlush: o.heldFlushes.Load(),
		Waiting: waiting, WaitingSize: size, HeldBytes: int(o.held.Load()),
		UpErrors: o.upErrors.Load(), ShortFrames: o.short.Load(), NonMember: o.nonMember.Load(),
	}
}

func init() {
	Register("order", func(p *Props) (channel.Interceptor, error) {
		return NewOrder(OrderConfig{
			Expire:           p.Duration("expire", DefaultOrderExpire),
			DropExpired:      !p.Bool("forwardExpired", true),
			MaxQueue:         p.Int("maxQueue", DefaultOrderMaxQueue),
			MaxQueueBytes:    p.Int("maxQueueBytes", DefaultOrderMaxQueueBytes),
			MaxHeldBytes:     p.Int("maxHeldBytes", 0),
			Flag:             channel.SendOptions(p.Int("optionFlag", 0)),
			AcceptNonMembers: p.Bool("acceptNonMembers", false),
		})
	})
}
