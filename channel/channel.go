package channel

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/gotribes/tribes/internal/ratelog"
)

// DefaultHeartbeatInterval is Tomcat's heartbeatSleeptime: how often the channel calls
// Heartbeat down the chain.
const DefaultHeartbeatInterval = 5 * time.Second

// Config configures a Channel. The zero value of every optional field means its default.
type Config struct {
	// Transport moves messages (required): transport/nio for TCP, channeltest in memory.
	Transport Transport
	// Membership keeps the member list: membership/static, membership/mcast, channeltest.
	// Nil means no membership levels: only explicitly addressed sends work.
	Membership MembershipService
	// Interceptors are stacked between the application and the coordinator in this order:
	// Interceptors[0] is the first to see an outgoing message and the last to see an
	// incoming one (as Tribes' configuration order). A nil one, a nil pointer of an
	// interceptor type included, is ErrInvalidConfig (TestNewTypedNilInterceptor).
	Interceptors []Interceptor

	// UniqueID identifies this run of the node. Zero means a random version-4 id
	// (Tribes: UUIDGenerator.randomUUID(true)).
	UniqueID UniqueID
	// Domain is the cluster domain advertised in the local member (default empty).
	Domain []byte
	// Payload is opaque data advertised in the local member (default empty).
	Payload []byte

	// HeartbeatInterval is how often Heartbeat runs down the chain and on listeners that
	// implement Heartbeater. 0 means DefaultHeartbeatInterval (Tomcat heartbeatSleeptime,
	// 5 s); negative disables the heartbeat goroutine (call Channel.Heartbeat yourself).
	HeartbeatInterval time.Duration

	// AcceptNonMembers turns the sender check off. By default a received message reaches
	// the listeners only if its source is the local member or a current member as the
	// chain reports it (Channel.Member: the membership service and interceptors such as the
	// static-member one; a member listed without a unique id, as host:port, stands for any
	// id at that address). Other messages are dropped (Stats.NonMemberDropped, a warning
	// logged at most a few times a minute per sender and 60 times a minute in all) and a
	// synchronized-ack sender gets a FAIL_ACK (ErrNotMember). The check runs at the top of
	// the chain, so what interceptors consume below it is never checked by the channel:
	// membership notices, pings and failure-detector probes of a node that is not listed
	// yet still work, and so does a protocol run by listeners that implement
	// NonMemberListener (the static membership protocol of membership/staticsvc over
	// package rpc): they alone get the messages they take. Some interceptors refuse
	// non-members' messages on their own: fragmentation and twophasecommit while this check
	// is on (InterceptorBase.SendersChecked), the non-blocking coordinator's election
	// messages always. A transport that implements SenderChecker is given the check, so
	// that it can close idle connections that carried only non-members' frames. Set it for
	// applications that take messages from nodes outside the group (no Tomcat equivalent:
	// Tribes delivers everything). A channel without a Membership service has no members to
	// check against and delivers everything.
	AcceptNonMembers bool

	// AckUnaccepted answers ACK to a synchronized-ack message (OptUseAck|OptSyncAck) that
	// no listener accepted, as Java Tribes does. By default such a message is answered
	// with FAIL_ACK (ErrUnaccepted; the sender's error wraps ErrAckFailed), so that its
	// sender learns that nobody handled it: a session manager asking a node that runs no
	// session manager for its sessions goes on at once instead of waiting for data that
	// never comes. Messages without synchronized ack are dropped silently either way
	// (Stats.Unhandled counts every one).
	AckUnaccepted bool

	// Logger receives lifecycle and membership logs. Nil discards them.
	Logger *slog.Logger
}

// Stats are a channel's counters since it was created.
type Stats struct {
	MessagesSent     uint64 // messages whose send completed without error
	SendFailures     uint64 // sends that returned an error
	BytesSent        uint64 // payload bytes of successful sends (before interceptors)
	MessagesReceived uint64 // messages that reached the top of the chain
	BytesReceived    uint64 // payload bytes of those messages
	Unhandled        uint64 // received messages no listener accepted
	ListenerFailures uint64 // received messages a listener returned an error for (reported to the sender or not)
	MembersAdded     uint64 // memberAdded events delivered
	MembersGone      uint64 // memberDisappeared events delivered
	HealthFailures   uint64 // failures reported by the transport or membership (see Healthy)
	NonMemberDropped uint64 // received messages dropped because their source is not a member (Config.AcceptNonMembers)
	MessagesLost     uint64 // messages the transport received in part and dropped (see LossListener)
}

// rlogNow, nil (time.Now) but in tests, is the clock of the channel's rate-limited log.
var rlogNow func() time.Time

// Channel is a Tribes GroupChannel: the application's handle on a group. It sends byte
// messages to members through an interceptor chain, delivers received messages and
// membership events to listeners, and starts and stops by level.
//
// All methods are safe for concurrent use.
type Channel struct {
	log        *slog.Logger
	rlog       *ratelog.Limiter // for what peers can repeat at will
	hbInt      time.Duration
	nonMembers bool // Config.AcceptNonMembers
	ackUnacc   bool // Config.AckUnaccepted

	head  Interceptor
	stack []Interceptor // the configured interceptors, top to bottom
	top   *top
	coord *coordinator

	life    chan struct{} // lifecycle: a one-slot semaphore, so that Start and Stop can give up when ctx ends
	hmu     sync.Mutex    // guards hold, and taking and releasing life
	hold    *lifeHold     // the Start or Stop holding life, nil when free
	waiters []*lifeWaiter // the Starts and Stops waiting for life, in the order they came (guarded by hmu)
	started Service       // guarded by life
	// unfinished: the levels whose last Stop down the chain returned an error once its
	// ctx had ended, or whose failed Start's undo ran out of its bound (an interceptor's
	// goroutines, a transport's receiver, still stopping in the background). Not running; the next Stop of such a level, and a Start of it
	// before it starts it, call the chain's Stop again for it. Guarded by life.
	unfinished Service
	hbStop     context.CancelFunc
	hbMu       sync.Mutex // held by the heartbeat goroutine while it beats: beats never overlap

	smu     sync.Mutex    // guards stopped
	stopped chan struct{} // closed (and replaced) when the last level stops: wakes WaitForMembers

	msgL atomic.Pointer[[]*msgEntry]
	mbrL atomic.Pointer[[]*mbrEntry]
	lmu  sync.Mutex // guards listener list updates
	emu  sync.Mutex // serialises membership events to listeners

	sent, sendFail, bytesSent              atomic.Uint64
	recv, bytesRecv, unhandled, listenFail atomic.Uint64
	added, gone, healthFail, nonMember     atomic.Uint64
	lost                                   atomic.Uint64 // messages the transport lost

	health sync.Map // HealthReporter → its outstanding failure (error)
	// healthLogged: the reporters whose last failure's line was written (the limiter may
	// count it instead), their recovery's line is then written too; under emu.
	healthLogged map[HealthReporter]bool
	arrivals     ArrivalReporter // the transport, if it reports arriving messages
}

type msgEntry struct{ l MessageListener }
type mbrEntry struct{ l MembershipListener }

// top is the sentinel above the first interceptor: it hands messages and events to listeners.
type top struct {
	InterceptorBase
	ch *Channel
}

func (t *top) MessageReceived(msg *Message) error { return t.ch.deliver(msg) }
func (t *top) MemberAdded(m Member)               { t.ch.memberEvent(m, true) }
func (t *top) MemberDisappeared(m Member)         { t.ch.memberEvent(m, false) }

// New builds a channel and its interceptor chain. Nothing runs until Start.
func New(cfg Config) (*Channel, error) {
	if cfg.Transport == nil {
		return nil, fmt.Errorf("%w: Config.Transport is required", ErrInvalidConfig)
	}
	seen := map[*InterceptorBase]bool{}
	for i, ic := range cfg.Interceptors {
		if isNilInterceptor(ic) {
			return nil, fmt.Errorf("%w: interceptor %d is nil", ErrInvalidConfig, i)
		}
		if seen[ic.base()] {
			return nil, fmt.Errorf("%w: interceptor %d appears twice", ErrInvalidConfig, i)
		}
		seen[ic.base()] = true
		if ic.base().next != nil || ic.base().prev != nil {
			return nil, fmt.Errorf("%w: interceptor %d already belongs to a channel", ErrInvalidConfig, i)
		}
	}
	id := cfg.UniqueID
	if id == (UniqueID{}) {
		u, err := uuid.NewRandom() // version 4 from crypto/rand, as Tribes' randomUUID(true)
		if err != nil {
			return nil, fmt.Errorf("tribes: member id: %w", err)
		}
		id = UniqueID(u)
	}
	identity := Member{UniqueID: id, SecurePort: -1, UDPPort: -1,
		Domain: bytes.Clone(cfg.Domain), Payload: bytes.Clone(cfg.Payload)}
	if err := identity.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	c := &Channel{log: cfg.Logger, hbInt: cfg.HeartbeatInterval, stopped: make(chan struct{}), life: make(chan struct{}, 1),
		nonMembers: cfg.AcceptNonMembers || cfg.Membership == nil, ackUnacc: cfg.AckUnaccepted}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	c.rlog = ratelog.New(ratelog.Config{Logger: c.log, Now: rlogNow})
	if c.hbInt == 0 {
		c.hbInt = DefaultHeartbeatInterval
	}
	c.top = &top{ch: c}
	c.coord = newCoordinator(cfg.Transport, cfg.Membership, identity)
	layers := make([]Interceptor, 0, len(cfg.Interceptors)+2)
	layers = append(layers, c.top)
	layers = append(layers, cfg.Interceptors...)
	layers = append(layers, c.coord)
	for i := range layers {
		b := layers[i].base()
		b.open, b.top = c.nonMembers, layers[0]
		if i > 0 {
			b.prev = layers[i-1]
		}
		if i < len(layers)-1 {
			b.next = layers[i+1]
		}
	}
	for _, svc := range []any{cfg.Transport, cfg.Membership} {
		if h, ok := svc.(HealthReporter); ok {
			h.SetHealthFunc(func(err error) { c.healthEvent(h, err) })
		}
	}
	c.arrivals, _ = cfg.Transport.(ArrivalReporter)
	if l, ok := cfg.Transport.(LossReporter); ok {
		l.SetLossFunc(c.messageLost)
	}
	c.head = layers[1]
	if sc, ok := cfg.Transport.(SenderChecker); ok && !c.nonMembers {
		sc.SetSenderCheck(c.fromMember)
	}
	c.stack = append([]Interceptor(nil), cfg.Interceptors...)
	c.msgL.Store(&[]*msgEntry{})
	c.mbrL.Store(&[]*mbrEntry{})
	if u, ok := cfg.Membership.(ChannelUser); ok {
		u.SetChannel(c)
	}
	return c, nil
}

// isNilInterceptor reports whether ic is nil: a nil interface, a nil pointer of an
// interceptor type (whose base would dereference it), or an interceptor whose
// InterceptorBase is reached through a nil pointer (an embedded *InterceptorBase, or an
// embedded interceptor, left nil).
func isNilInterceptor(ic Interceptor) (isNil bool) {
	if ic == nil {
		return true
	}
	if v := reflect.ValueOf(ic); v.Kind() == reflect.Pointer && v.IsNil() {
		return true
	}
	defer func() {
		if recover() != nil { // base dereferenced a nil embedded pointer
			isNil = true
		}
	}()
	return ic.base() == nil
}

// Send sends data to the members in to, or to every current member when to is empty.
// OptByteMessage is always set, since the payload is raw bytes. It returns when every
// destination has the message as opts ask (written, ACKed, or processed), when ctx ends or
// when the transport's ack timeout passes; a partial failure is a *SendError naming each
// faulty member (errors.Is works with ErrAckTimeout, ErrAckFailed, ErrConnect, ...).
// With to empty and no member listed yet (a membership or failure detector that needs a
// moment after Start; see WaitForMembers) it sends nothing and returns an error wrapping
// ErrNoMembers that says so and names WaitForMembers (TestSendToNoMembersSaysWhatToDo),
// or an error wrapping ErrNotStarted when the channel's sender level is not running.
// Send does not modify data and does not keep it after it returns.
func (c *Channel) Send(ctx context.Context, to []Member, data []byte, opts SendOptions) error {
	return c.SendMessage(ctx, to, &Message{Options: opts | OptByteMessage, Data: data})
}

// errNoMembersYet is Send's error to every member of a running channel that lists none:
// the bare ErrNoMembers did not tell a newcomer, who sent right after Start, that the
// members come a moment later and how to wait for them.
var errNoMembersYet = fmt.Errorf("%w: the channel lists no member yet (a membership or failure detector may "+
	"need a moment after Start: Channel.WaitForMembers waits for them), or name the members to send to", ErrNoMembers)

// SendMessage sends a message prepared by the caller, for options Send does not offer
// (for example a Java-serialized payload without OptByteMessage). Zero ID, Timestamp and
// Source are filled in. A nil msg is refused with an error wrapping ErrInvalidConfig
// (TestSendMessageNil).
func (c *Channel) SendMessage(ctx context.Context, to []Member, msg *Message) error {
	if msg == nil {
		c.sendFail.Add(1)
		return fmt.Errorf("%w: SendMessage of a nil *Message", ErrInvalidConfig)
	}
	if len(to) == 0 && msg.Options&OptMulticast == 0 {
		to = c.head.Members()
		if len(to) == 0 {
			c.sendFail.Add(1)
			if c.Started()&SvcSender == 0 {
				// Not started (or stopped): say so rather than blame the empty group.
				return fmt.Errorf("%w: the sender level is stopped", ErrNotStarted)
			}
			return errNoMembersYet
		}
	}
	if msg.ID == nil {
		msg.ID = NewMessageID()
	}
	if msg.Timestamp == 0 {
		msg.Timestamp = time.Now().UnixMilli()
	}
	if msg.Source.UniqueID == (UniqueID{}) && msg.SourceBytes == nil {
		msg.Source, msg.SourceBytes = c.coord.localWire()
	}
	n := len(msg.Data)
	if err := c.head.SendMessage(ctx, to, msg); err != nil {
		c.sendFail.Add(1)
		return err
	}
	c.sent.Add(1)
	c.bytesSent.Add(uint64(n))
	return nil
}

func (c *Channel) deliver(msg *Message) error {
	member := c.nonMembers || c.fromMember(&msg.Source)
	if !member && !c.wantedByNonMemberListener(msg) {
		c.nonMember.Add(1)
		addr := msg.Source.Addr()
		src := msg.Source
		c.rlog.LogFunc(slog.LevelWarn, addr, "non-member", "tribes channel dropping a message from a non-member",
			func() []any { return c.nonMemberArgs(&src) })
		return fmt.Errorf("%w: %s", ErrNotMember, addr)
	}
	c.recv.Add(1)
	c.bytesRecv.Add(uint64(len(msg.Data)))
	var errs, catchAllErrs []error
	accepted, owned := false, false
	for _, e := range *c.msgL.Load() {
		if !member && !acceptsNonMember(e.l, msg) || member && !e.l.Accept(msg) {
			continue
		}
		accepted = true
		_, catchAll := e.l.(CatchAllListener)
		owned = owned || !catchAll
		if err := e.l.MessageReceived(msg); err != nil {
			if catchAll {
				catchAllErrs = append(catchAllErrs, err)
			} else {
				errs = append(errs, err)
			}
		}
	}
	if !accepted {
		c.unhandled.Add(1)
		if msg.Options.IsSyncAck() && !c.ackUnacc {
			c.rlog.Log(slog.LevelDebug, msg.Source.Addr(), "unaccepted",
				"tribes channel: no listener accepted a synchronized-ack message; answering FAIL_ACK",
				"source", msg.Source.String(), "size", len(msg.Data))
			return ErrUnaccepted
		}
		return nil
	}
	// The isolation rule: an error counts for the ack (FAIL_ACK) only from a listener that
	// took the message as its own. A CatchAllListener fails the message only when no other
	// listener accepted it: it cannot break another application's messages.
	if !owned {
		errs = append(errs, catchAllErrs...)
	} else if len(catchAllErrs) > 0 {
		c.rlog.Log(slog.LevelDebug, msg.Source.Addr(), "catch-all-error",
			"tribes channel: an accept-all listener failed a message another listener took; not reported to the sender",
			"err", errors.Join(catchAllErrs...))
	}
	if len(errs) > 0 || len(catchAllErrs) > 0 {
		c.listenFail.Add(1)
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	return nil
}

// wantedByNonMemberListener reports whether a listener that takes messages from
// non-members accepts msg.
func (c *Channel) wantedByNonMemberListener(msg *Message) bool {
	for _, e := range *c.msgL.Load() {
		if acceptsNonMember(e.l, msg) {
			return true
		}
	}
	return false
}

func acceptsNonMember(l MessageListener, msg *Message) bool {
	n, ok := l.(NonMemberListener)
	return ok && n.AcceptNonMember(msg)
}

// nonMemberArgs are the attributes of the non-member warning about src: its source and,
// when a member is listed at src's address with another unique id (a static list that
// names a node whose id is random, or was changed) or with the same id and its host in
// another byte form (16-byte IPv4), that member and what to change
// (TestNonMemberWarningNamesListedID).
func (c *Channel) nonMemberArgs(src *Member) []any {
	args := []any{"source", src.String()}
	for _, m := range c.head.Members() {
		if m.Port != src.Port || !net.IP(m.Host).Equal(net.IP(src.Host)) {
			continue
		}
		if m.UniqueID == src.UniqueID { // the same address in another byte form
			return append(args, "listed", m.String(), "hint", fmt.Sprintf("a member is listed at this address "+
				"with a %d-byte host where its messages carry %d bytes: list IPv4 hosts in their 4-byte form "+
				"(net.IP.To4, wire.ParseMemberList)", len(m.Host), len(src.Host)))
		}
		return append(args, "listed", m.String(), "hint",
			"a member is listed at this address with another unique id: give that node the id the list names, "+
				"or list it with its own (node.Config.UniqueID, channel.Config.UniqueID, tribesdemo --id)")
	}
	return args
}

// fromMember reports whether src is the local member or a member of the chain's view,
// matching a member listed without a unique id by its address alone.
func (c *Channel) fromMember(src *Member) bool {
	if src.Key() == c.coord.local.Load().m.Key() {
		return true
	}
	_, ok := ListedAs(c.head.Member, *src)
	return ok
}

func (c *Channel) memberEvent(m Member, added bool) {
	c.emu.Lock()
	defer c.emu.Unlock()
	if added {
		c.added.Add(1)
		c.log.Info("tribes member added", "member", m.String())
	} else {
		c.gone.Add(1)
		c.log.Info("tribes member disappeared", "member", m.String())
		if f, ok := c.coord.tr.(MemberForgetter); ok {
			f.ForgetMember(m)
		}
	}
	for _, e := range *c.mbrL.Load() {
		if added {
			e.l.MemberAdded(m)
		} else {
			e.l.MemberDisappeared(m)
		}
	}
}

// AddMessageListener registers l and returns a function that removes it. A nil l, or a nil
// function or pointer of a listener type (MessageListenerFunc, objects.Func), is ignored and
// its remove function does nothing (TestNilListenersIgnored).
func (c *Channel) AddMessageListener(l MessageListener) (remove func()) {
	if isNil(l) {
		return func() {}
	}
	e := &msgEntry{l: l}
	updateList(&c.lmu, &c.msgL, func(s []*msgEntry) []*msgEntry { return append(s, e) })
	return func() {
		updateList(&c.lmu, &c.msgL, func(s []*msgEntry) []*msgEntry { return without(s, e) })
	}
}

// AddMembershipListener registers l and returns a function that removes it. A nil l, or a
// nil pointer or function of a listener type, is ignored and its remove function does
// nothing (TestNilListenersIgnored).
func (c *Channel) AddMembershipListener(l MembershipListener) (remove func()) {
	if isNil(l) {
		return func() {}
	}
	e := &mbrEntry{l: l}
	updateList(&c.lmu, &c.mbrL, func(s []*mbrEntry) []*mbrEntry { return append(s, e) })
	return func() {
		updateList(&c.lmu, &c.mbrL, func(s []*mbrEntry) []*mbrEntry { return without(s, e) })
	}
}

// isNil reports whether l is nil or a nil function, pointer, map, channel or slice: a
// listener variable left unset, whose methods would panic when called.
func isNil(l any) bool {
	if l == nil {
		return true
	}
	switch v := reflect.ValueOf(l); v.Kind() {
	case reflect.Func, reflect.Pointer, reflect.Map, reflect.Chan, reflect.Slice:
		return v.IsNil()
	}
	return false
}

func updateList[T any](mu *sync.Mutex, p *atomic.Pointer[[]T], f func([]T) []T) {
	mu.Lock()
	defer mu.Unlock()
	old := *p.Load()
	n := f(append([]T(nil), old...))
	p.Store(&n)
}

func without[T comparable](s []T, e T) []T {
	for i, x := range s {
		if x == e {
			return append(s[:i], s[i+1:]...)
		}
	}
	return s
}

// Interceptors returns the channel's interceptors in configuration order (first = closest to
// the application), for inspection such as collecting their statistics.
func (c *Channel) Interceptors() []Interceptor { return append([]Interceptor(nil), c.stack...) }

// Transport returns the transport the channel was built with.
func (c *Channel) Transport() Transport { return c.coord.tr }

// Membership returns the membership service the channel was built with (nil if none).
func (c *Channel) Membership() MembershipService { return c.coord.mb }

// Members returns the current members as the chain sees them, oldest first. The slice
// may be the membership service's own, shared with every caller (see
// MembershipService.Members): do not modify its elements; append to it or copy it.
func (c *Channel) Members() []Member { return c.head.Members() }

// Member looks up a member by identity.
func (c *Channel) Member(key MemberKey) (Member, bool) { return c.head.Member(key) }

// HasMembers reports whether any other member is known.
func (c *Channel) HasMembers() bool { return len(c.head.Members()) > 0 }

// LocalMember returns the local member with a current alive time. Its address (Host,
// Port) is the receiver's, so a channel whose receiver level has not started yet (before
// Start) returns a member without one: Host empty and Port 0, which Member.Addr prints as
// "invalid IP:0". Hand it to other nodes once Start returned
// (TestStaticMemberFromAnUnstartedChannel in package node).
func (c *Channel) LocalMember() Member { return c.head.LocalMember(true) }

// SetPayload changes the payload advertised in the local member. A payload that makes the
// member larger than a decoder accepts (wire.MaxMemberSize encoded), which New refuses
// too, is refused with an error wrapping ErrInvalidConfig and wire.ErrBadMember, and the
// member keeps its payload (TestSetPayloadOversized). Membership listeners may call it,
// also while Start delivers their events (TestSetPayloadFromMembershipListenerDuringStart).
func (c *Channel) SetPayload(p []byte) error {
	return c.coord.updateLocal(func(m *Member) { m.Payload = bytes.Clone(p) }, true)
}

// SetDomain changes the domain advertised in the local member. As SetPayload, it refuses a
// domain that makes the member too large with an error wrapping ErrInvalidConfig.
func (c *Channel) SetDomain(d []byte) error {
	return c.coord.updateLocal(func(m *Member) { m.Domain = bytes.Clone(d) }, true)
}

// Stats returns a snapshot of the channel's counters.
func (c *Channel) Stats() Stats {
	return Stats{
		MessagesSent: c.sent.Load(), SendFailures: c.sendFail.Load(), BytesSent: c.bytesSent.Load(),
		MessagesReceived: c.recv.Load(), BytesReceived: c.bytesRecv.Load(), Unhandled: c.unhandled.Load(),
		ListenerFailures: c.listenFail.Load(), MembersAdded: c.added.Load(), MembersGone: c.gone.Load(),
		HealthFailures: c.healthFail.Load(), NonMemberDropped: c.nonMember.Load(), MessagesLost: c.lost.Load(),
	}
}
