package interceptors

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gotribes/tribes/channel"
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

func (o *Order) outCounter(m channel.Member) *atomic.Uint32 {
	o.outMu.Lock()
	defer o.outMu.Unlock()
	c := o.out[m.Key()]
	if c == nil {
		c = new(atomic.Uint32)
		o.out[m.Key()] = c
	}
	return c
}

// SendMessage sends msg to each destination with that destination's next number. A
// multicast (OptMulticast) goes down unchanged, without a counter.
func (o *Order) SendMessage(ctx context.Context, to []channel.Member, msg *channel.Message) error {
	if !o.OKToProcess(msg.Options) {
		return o.Next().SendMessage(ctx, to, msg)
	}
	if len(to) == 0 || msg.Options&channel.OptMulticast != 0 {
		// A multicast: there is no per-destination counter to keep, and the receiver,
		// seeing OptMulticast, expects none.
		return o.Next().SendMessage(ctx, to, msg)
	}
	// Take every number first, so that concurrent senders get them in one order per
	// destination.
	nrs := make([]uint32, len(to))
	for i, m := range to {
		nrs[i] = o.outCounter(m).Add(1)
	}
	o.sent.Add(uint64(len(to)))
	var done *completion
	if len(to) > 1 {
		done = newCompletion(msg)
	}
	return done.sent(sendEach(ctx, o.Next(), to, msg.ID, done, func(i int) *channel.Message {
		c := *msg
		c.Data = AppendOrderTrailer(append(make([]byte, 0, len(msg.Data)+OrderTrailerLen), msg.Data...), nrs[i])
		if done != nil {
			c.OnComplete = done.part(to[i : i+1])
		}
		return &c
	}))
}

// AppendOrderTrailer appends Order's trailer for message number nr.
func AppendOrderTrailer(dst []byte, nr uint32) []byte { return binary.BigEndian.AppendUint32(dst, nr) }

// ParseOrderTrailer splits a received payload into the message and its number.
func ParseOrderTrailer(b []byte) (data []byte, nr uint32, err error) {
	if len(b) < OrderTrailerLen {
		return nil, 0, fmt.Errorf("%w: %d bytes, order trailer needs %d", ErrShortMessage, len(b), OrderTrailerLen)
	}
	n := len(b) - OrderTrailerLen
	return b[:n], binary.BigEndian.Uint32(b[n:]), nil
}

// before reports whether sequence number a comes before b (serial-number arithmetic, so
// that the 32-bit counters may wrap).
func before(a, b uint32) bool { return int32(a-b) < 0 }

// sender returns the receive state of m, made if needed; nil for a sender that is not a
// member, where non-members are not ordered (checked), once orderMaxStrangers of them
// have a state.
func (o *Order) sender(m channel.Member, checked bool) *orderIn {
	k := m.Key()
	o.inMu.Lock()
	s := o.in[k]
	o.inMu.Unlock()
	if s != nil {
		return s
	}
	stranger := checked && !fromChannelMember(o, m)
	o.inMu.Lock()
	defer o.inMu.Unlock()
	if s = o.in[k]; s != nil {
		return s
	}
	if stranger {
		if o.strangers >= orderMaxStrangers {
			o.overflowAt.Store(time.Now().UnixNano())
			return nil
		}
		o.strangers++
	}
	src := channel.Member{Host: slices.Clone(m.Host), Port: m.Port, UniqueID: m.UniqueID}
	s = &orderIn{next: 1, held: newOrderHeld(&o.held), src: src, stranger: stranger}
	o.in[k] = s
	return s
}

// forget removes s from the receive states. Caller holds o.inMu.
func (o *Order) forget(s *orderIn) {
	if k := s.src.Key(); o.in[k] == s {
		delete(o.in, k)
		if s.stranger {
			s.stranger = false
			o.strangers--
		}
	}
}

// MessageReceived strips the trailer and delivers msg once every earlier message of its
// sender was delivered (or given up on).
//
// A multicast (OptMulticast, which travels on the wire) carries no counter: it is passed
// up as it came, at once.
func (o *Order) MessageReceived(msg *channel.Message) error {
	if !o.OKToProcess(msg.Options) || msg.Options&channel.OptMulticast != 0 {
		return o.Prev().MessageReceived(msg)
	}
	data, nr, err := ParseOrderTrailer(msg.Data)
	if err != nil {
		o.short.Add(1)
		return fmt.Errorf("tribes: order: message %s from %s: %w", msg.IDString(), msg.Source.Addr(), err)
	}
	msg.Data = data
	checked := o.SendersChecked() && !o.cfg.AcceptNonMembers
	s := o.sender(msg.Source, checked)
	for s != nil {
		s.mu.Lock()
		if !s.gone {
			break
		}
		s.mu.Unlock()
		s = o.sender(msg.Source, checked)
	}
	if s == nil { // a non-member beyond orderMaxStrangers: never held, never recorded
		o.nonMember.Add(1)
		return o.Prev().MessageReceived(msg)
	}
	now := time.Now() // under s.mu: the held messages' arrivals are in order
	s.lastRecv = now
	if s.adopt { // its first message: see orderIn.adopt
		s.adopt = false
		if before(s.next, nr) {
			o.skipped.Add(uint64(nr - s.next))
			s.next = nr
		}
	}
	switch {
	case nr == s.next:
		s.ready = append(s.ready, msg)
		s.next++
		o.releaseConsecutive(s)
	case before(nr, s.next):
		// Its number was skipped when an expired message was released, or its sender
		// restarted its counter: deliver it, as Tomcat does whatever forwardExpired says.
		o.late.Add(1)
		s.ready = append(s.ready, msg)
	case checked && !fromChannelMember(o, msg.Source):
		// A non-member's message is dropped by the channel (or taken by a
		// NonMemberListener, unordered): never hold it. Its number is used up, so that
		// the earlier ones count as late and its sender, once a member, is in step.
		o.nonMember.Add(1)
		o.releaseUpTo(s, nr-1, time.Time{})
		s.ready = append(s.ready, msg)
		if !before(nr, s.next) {
			o.skipped.Add(uint64(nr - s.next))
			s.next = nr + 1
			o.releaseConsecutive(s)
		}
	default:
		if !s.held.has(nr) {
			s.held.add(msg, nr, now)
			o.reordered.Add(1)
		}
		o.expire(s, now) // first: what waited longer than Expire is dropped with DropExpired
		if s.held.len() >= o.cfg.MaxQueue || s.held.bytes >= o.cfg.MaxQueueBytes {
			o.flushes.Add(1)
			o.releaseUpTo(s, s.held.highest(), time.Time{})
		}
	}
	o.expire(s, now)
	err = o.drain(s, msg)
	if o.held.Load() >= int64(o.cfg.MaxHeldBytes) {
		o.relieve()
	}
	return err
}

// releaseConsecutive moves held messages that are now next into ready. Caller holds s.mu.
func (o *Order) releaseConsecutive(s *orderIn) {
	for {
		if nr, ok := s.held.first(); !ok || nr != s.next {
			return
		}
		msg, _, _ := s.held.take()
		s.ready = append(s.ready, msg)
		s.next++
	}
}

// releaseUpTo gives up on the missing numbers up to last: every held message numbered up
// to last becomes ready in order, and the counter moves past last. With DropExpired and a
// non-zero now, a message that waited longer than Expire by then is dropped instead.
// Caller holds s.mu.
func (o *Order) releaseUpTo(s *orderIn, last uint32, now time.Time) {
	for {
		if nr, ok := s.held.first(); !ok || before(last, nr) {
			break
		}
		msg, nr, at := s.held.take()
		o.skipped.Add(uint64(nr - s.next))
		s.next = nr + 1
		if o.cfg.DropExpired && !now.IsZero() && now.Sub(at) > o.cfg.Expire {
			o.dropped.Add(1)
			continue
		}
		s.ready = append(s.ready, msg)
	}
	o.releaseConsecutive(s)
}

// expire releases everything up to the newest message that waited longer than Expire.
// Caller holds s.mu.
func (o *Order) expire(s *orderIn, now time.Time) {
	if n, last := s.held.expired(now, o.cfg.Expire); n > 0 {
		o.expired.Add(uint64(n))
		o.releaseUpTo(s, last, now)
	}
}

// drain delivers s.ready in order unless another goroutine already does; it returns the
// listener error for own (the message this goroutine received), if it delivered it.
// Caller holds s.mu; drain releases it.
func (o *Order) drain(s *orderIn, own *channel.Message) error {
	if s.delivering {
		s.mu.Unlock()
		return nil
	}
	s.delivering = true
	var ownErr error
	for len(s.ready) > 0 {
		batch := s.ready
		s.ready = nil
		s.mu.Unlock()
		for _, m := range batch {
			err := o.Prev().MessageReceived(m)
			o.delivered.Add(1)
			if m == own {
				ownErr = err
			} else if err != nil {
				o.upErrors.Add(1)
			}
		}
		s.mu.Lock()
	}
	s.delivering = false
	o.endLeave(s)
	s.mu.Unlock()
	return ownErr
}

// Heartbeat releases messages that waited longer than Expire for senders that went quiet,
// and forgets the receive state of senders that are not members and sent nothing for
// orderForgetIdle, with nothing waiting.
func (o *Order) Heartbeat() {
	o.inMu.Lock()
	senders := make([]*orderIn, 0, len(o.in))
	for _, s := range o.in {
		senders = append(senders, s)
	}
	o.inMu.Unlock()
	now := time.Now()
	for _, s := range senders {
		s.mu.Lock()
		o.expire(s, now)
		_ = o.drain(s, nil)
		s.mu.Lock()
		idle := s.idle(now)
		s.mu.Unlock()
		o.inMu.Lock()
		stranger := s.stranger
		o.inMu.Unlock()
		if !idle && !stranger {
			continue
		}
		if fromChannelMember(o, s.src) {
			if stranger { // a sender that joined: no longer counted among the strangers
				o.inMu.Lock()
				if s.stranger {
					s.stranger = false
					o.strangers--
				}
				o.inMu.Unlock()
			}
			continue
		}
		if !idle {
			continue
		}
		s.mu.Lock()
		if s.idle(now) { // nothing arrived meanwhile
			s.gone = true
			o.inMu.Lock()
			o.forget(s)
			o.inMu.Unlock()
		}
		s.mu.Unlock()
	}
	o.Next().Heartbeat()
}

// idle reports whether s may be forgotten: nothing waiting or being delivered, and no
// message for orderForgetIdle. Caller holds s.mu.
func (s *orderIn) idle(now time.Time) bool {
	return !s.gone && !s.delivering && s.held.len() == 0 && len(s.ready) == 0 && now.Sub(s.lastRecv) > orderForgetIdle
}

// MemberAdded gives a member added within orderForgetIdle of a stranger's message passed
// up without a state, and that has none, a state that starts its count at the member's
// first message (orderIn.adopt).
func (o *Order) MemberAdded(m channel.Member) {
	if at := o.overflowAt.Load(); at != 0 && time.Since(time.Unix(0, at)) < orderForgetIdle {
		k := m.Key()
		o.inMu.Lock()
		if o.in[k] == nil {
			src := channel.Member{Host: slices.Clone(m.Host), Port: m.Port, UniqueID: m.UniqueID}
			o.in[k] = &orderIn{next: 1, held: newOrderHeld(&o.held), src: src, adopt: true, lastRecv: time.Now()}
		}
		o.inMu.Unlock()
	}
	o.Prev().MemberAdded(m)
}

// MemberDisappeared delivers what the member's messages were waiting for, in order (Member
// reports m until then: see orderleave.go), and forgets both counters: a member that
// comes back starts again at 1.
func (o *Order) MemberDisappeared(m channel.Member) {
	o.outMu.Lock()
	delete(o.out, m.Key())
	o.outMu.Unlock()
	o.inMu.Lock()
	s := o.in[m.Key()]
	if s != nil {
		o.forget(s)
	}
	o.inMu.Unlock()
	if s != nil {
		s.mu.Lock()
		s.gone = true
		if s.held.len() > 0 || len(s.ready) > 0 {
			o.leave(s)
		}
		if s.held.len() > 0 {
			o.releaseUpTo(s, s.held.highest(), time.Time{})
		}
		_ = o.drain(s, nil)
	}
	o.Prev().MemberDisappeared(m)
}

// Stats returns a snapshot of the counters.
func (o *Order) Stats() OrderStats {
	o.inMu.Lock()
	senders := make([]*orderIn, 0, len(o.in))
	for _, s := range o.in {
		senders = append(senders, s)
	}
	o.inMu.Unlock()
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
