package staticsvc

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/ratelog"
	"github.com/gotribes/tribes/rpc"
	"github.com/gotribes/tribes/wire"
)

// Defaults, Tomcat's StaticMembershipService properties.
const (
	DefaultExpirationTime = 5 * time.Second        // expirationTime
	DefaultConnectTimeout = 500 * time.Millisecond // connectTimeout
	DefaultRPCTimeout     = 3 * time.Second        // rpcTimeout
	DefaultPingInterval   = time.Second            // pingInterval
	// DefaultChannelName is the channel name of a Tomcat cluster (SimpleTcpCluster names its
	// channel "<clusterName>-Channel", and the cluster name defaults to the Engine's name,
	// "Catalina" in the stock server.xml).
	DefaultChannelName = "Catalina-Channel"
	// DefaultSendOptions is the provider's sendOptions: Channel.SEND_OPTIONS_ASYNCHRONOUS.
	DefaultSendOptions = channel.OptAsync
	// DefaultMaxMembers is how many members a Service keeps at most (Tomcat has no
	// limit; membership/mcast and membership/cloud keep as many).
	DefaultMaxMembers = 1024
	// DefaultMaxPayloadSize is the largest member payload accepted (Tomcat has no limit;
	// membership/mcast accepts as much).
	DefaultMaxPayloadSize = 4096
	// MaxNameSize bounds an announced member's domain and its command.
	MaxNameSize = 256
)

// ErrNoChannel is returned by Start when the service is not the membership of a channel
// (channel.New gives it the channel; see channel.ChannelUser).
var ErrNoChannel = errors.New("staticsvc: not the membership service of a channel")

// Config configures a Service. Zero fields take the defaults; Tomcat's property names of
// StaticMembershipService are in brackets.
type Config struct {
	// Members are the static members (the <Member> elements: host, port, uniqueId). The
	// local node may be listed too: the member whose host and port (or unique id) are the
	// local member's is left out. The others are only contacted by address; the members
	// the service reports are the ones they announce themselves as.
	Members []channel.Member
	// ChannelName is the name of the channel as Java's GroupChannel.getName returns it
	// (default DefaultChannelName). Java's member protocol is bound to
	// "<ChannelName>-StaticMembership" (the MemberMessage's membershipId and the RPC id),
	// so every node of a cluster needs the same name. A bare GroupChannel that was never
	// named has the name "null".
	ChannelName string
	// ExpirationTime: a member not heard from (START, PING or a reply to one) for longer
	// is dropped [expirationTime, 5 s].
	ExpirationTime time.Duration
	// ConnectTimeout bounds the TCP connect with which each static member is checked
	// before a START or PING is sent to it [connectTimeout, 500 ms].
	ConnectTimeout time.Duration
	// RPCTimeout is how long a START or PING waits for the replies [rpcTimeout, 3 s].
	RPCTimeout time.Duration
	// PingInterval is how often the members are pinged and expired [pingInterval, 1 s].
	// The Go service pings on its own goroutine, as Tomcat with useThread=true; a negative
	// value pings on the channel's heartbeat instead (Tomcat's default useThread=false,
	// every heartbeatSleeptime, 5 s).
	PingInterval time.Duration
	// SendOptions are the options of the member messages [sendOptions, DefaultSendOptions].
	SendOptions channel.SendOptions
	// MemberSUID is the serialVersionUID the local member is written with: MemberImplSUID
	// (the default, Tomcat 10.1.40+ and 11.0.6+), MemberImplSUID10 or MemberImplSUID9,
	// matching the Tomcat version of the Java nodes. Received members are read whatever
	// their SUID.
	MemberSUID int64
	// MaxMembers bounds the members kept: a START, PING or reply announcing a new member
	// once MaxMembers are kept is ignored and counted (Stats.MembersOverLimit) until some
	// leave or expire. 0 means DefaultMaxMembers (1024); Tomcat has no limit.
	MaxMembers int
	// MaxPayloadSize bounds the payload of an announced member: a message announcing a
	// member with a larger payload, or a domain or command over MaxNameSize (256) bytes,
	// is ignored and counted (Stats.OversizedMembers). 0 means DefaultMaxPayloadSize
	// (4096); Tomcat has no limit.
	MaxPayloadSize int
	// Logger receives the service's logs; nil discards them.
	Logger *slog.Logger
}

// Stats are a Service's counters since it was created.
type Stats struct {
	// MembersOverLimit counts messages announcing a new member that were ignored because
	// Config.MaxMembers were kept.
	MembersOverLimit uint64
	// OversizedMembers counts messages ignored because the member they announce was over
	// Config.MaxPayloadSize or MaxNameSize.
	OversizedMembers uint64
	// BadRequests counts requests of the service's RPC id that are no member message
	// (answered with null, logged rate-limited per sender address).
	BadRequests uint64
}

// Service is a channel.MembershipService speaking Tribes' StaticMembershipService
// protocol. Create it with New and give it to channel.New as Config.Membership.
type Service struct {
	cfg Config
	id  []byte // membershipId and RPC id
	cls classes
	log *slog.Logger
	rl  *ratelog.Limiter // refusals of what peers announce

	overLimit, oversized, badRequests atomic.Uint64

	mu      sync.Mutex
	ch      *channel.Channel
	running channel.Service
	l       channel.MembershipListener
	local   channel.Member
	view    map[channel.MemberKey]*entry
	run     *runState // nil unless both levels run
	// stopped holds when the members that sent a STOP did, by unique id: for stopMemory
	// after it, a PING of theirs or a reply to this node's (sent before the STOP, on
	// another connection, or late) does not add them again; a START (the node restarted
	// with the same id) does. Emptied when full.
	stopped map[channel.UniqueID]time.Time

	// members is the view as Members returns it, sorted; replaced (never modified) after
	// every change of the view, so Members does not allocate.
	members atomic.Pointer[[]channel.Member]

	evMu sync.Mutex // held while the view changes and its events are delivered, to keep them in order
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
	unlisten func()
	rpc      *rpc.Channel
}

// New returns a static membership service. It checks the configuration only; nothing
// runs until the channel starts its membership levels.
func New(cfg Config) (*Service, error) {
	if cfg.ChannelName == "" {
		cfg.ChannelName = DefaultChannelName
	}
	for _, d := range []struct {
		v   *time.Duration
		def time.Duration
		n   string
	}{{&cfg.ExpirationTime, DefaultExpirationTime, "ExpirationTime"}, {&cfg.ConnectTimeout, DefaultConnectTimeout, "ConnectTimeout"},
		{&cfg.RPCTimeout, DefaultRPCTimeout, "RPCTimeout"}} {
		if *d.v < 0 {
			return nil, fmt.Errorf("%w: %s %v is negative", channel.ErrInvalidConfig, d.n, *d.v)
		}
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	if cfg.PingInterval == 0 {
		cfg.PingInterval = DefaultPingInterval
	}
	if cfg.SendOptions == 0 {
		cfg.SendOptions = DefaultSendOptions
	}
	if cfg.SendOptions&channel.OptByteMessage != 0 {
		return nil, fmt.Errorf("%w: SendOptions %v: member messages are serialized objects, not byte messages",
			channel.ErrInvalidConfig, cfg.SendOptions)
	}
	if cfg.MemberSUID == 0 {
		cfg.MemberSUID = MemberImplSUID
	}
	if cfg.MaxMembers < 0 || cfg.MaxPayloadSize < 0 {
		return nil, fmt.Errorf("%w: MaxMembers %d or MaxPayloadSize %d is negative", channel.ErrInvalidConfig,
			cfg.MaxMembers, cfg.MaxPayloadSize)
	}
	if cfg.MaxMembers == 0 {
		cfg.MaxMembers = DefaultMaxMembers
	}
	if cfg.MaxPayloadSize == 0 {
		cfg.MaxPayloadSize = DefaultMaxPayloadSize
	}
	for i, m := range cfg.Members {
		if m.Port <= 0 || len(m.Host) == 0 {
			return nil, fmt.Errorf("%w: member %d (%s) has no address", channel.ErrInvalidConfig, i, m.String())
		}
	}
	cfg.Members = slices.Clone(cfg.Members)
	s := &Service{cfg: cfg, cls: newClasses(cfg.MemberSUID), log: cfg.Logger, view: map[channel.MemberKey]*entry{}}
	s.id = latin1(cfg.ChannelName + "-StaticMembership")
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.rl = ratelog.New(ratelog.Config{Logger: s.log})
	return s, nil
}

// Stats returns the service's counters.
func (s *Service) Stats() Stats {
	return Stats{MembersOverLimit: s.overLimit.Load(), OversizedMembers: s.oversized.Load(),
		BadRequests: s.badRequests.Load()}
}

// latin1 returns the ISO-8859-1 bytes of s (Java's getBytes(ISO_8859_1): '?' for what
// Latin-1 cannot hold).
func latin1(s string) []byte {
	b := make([]byte, 0, len(s))
	for _, r := range s {
		if r > 0xFF {
			r = '?'
		}
		b = append(b, byte(r))
	}
	return b
}

// MembershipID returns the ISO-8859-1 bytes of "<ChannelName>-StaticMembership": the
// membershipId of the member messages and the id of the RPCs they travel in.
func (s *Service) MembershipID() []byte { return slices.Clone(s.id) }

// SetChannel implements channel.ChannelUser: channel.New calls it.
func (s *Service) SetChannel(c *channel.Channel) {
	s.mu.Lock()
	s.ch = c
	s.mu.Unlock()
}

// Start implements channel.MembershipService. The member protocol runs once both
// membership levels run (Tribes starts the provider when its start level is
// MBR_RX|MBR_TX): the static members that accept a TCP connection get a START and the
// ones that answer are members; then they are pinged every PingInterval.
func (s *Service) Start(ctx context.Context, svc channel.Service, local channel.Member, l channel.MembershipListener) error {
	s.mu.Lock()
	if s.ch == nil {
		s.mu.Unlock()
		return ErrNoChannel
	}
	s.l, s.local = l, local
	s.running |= svc & channel.SvcMembership
	if s.running != channel.SvcMembership || s.run != nil {
		s.mu.Unlock()
		return nil
	}
	ch := s.ch
	s.mu.Unlock()

	rc, err := rpc.New(rpc.Config{Channel: ch, ID: s.id, Handler: rpc.HandlerFunc(s.replyRequest), LeftOver: s.leftOver,
		AcceptNonMembers: true}) // START and PING come from nodes not listed yet: the protocol's purpose
	if err != nil {
		s.mu.Lock()
		s.running &^= svc
		s.mu.Unlock()
		return fmt.Errorf("staticsvc: %w", err)
	}
	rctx, cancel := context.WithCancel(context.Background())
	r := &runState{ctx: rctx, cancel: cancel, rpc: rc, unlisten: ch.AddMessageListener(stopListener{s})}
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
	return nil
}

// Stop implements channel.MembershipService. When neither level runs any more, the
// members get a STOP (the local member with the BABY-ALEX command) and are reported gone.
// A member that cannot be sent the STOP (it may be stopping too) is logged, as in Tomcat,
// and does not make Stop fail.
func (s *Service) Stop(ctx context.Context, svc channel.Service) error {
	s.mu.Lock()
	s.running &^= svc
	r := s.run
	if s.running != 0 || r == nil {
		s.mu.Unlock()
		return nil
	}
	s.run = nil
	ch := s.ch
	s.mu.Unlock()

	r.cancel()
	if r.done != nil {
		<-r.done
	}
	_ = r.rpc.Close()
	r.unlisten()
	s.rl.Flush()
	if to := s.Members(); len(to) > 0 {
		local := ch.LocalMember()
		local.Command = wire.ShutdownCommand
		// As Tomcat's stopMembership: a member that cannot be told (it may be stopping
		// too) is logged, and the stop goes on; it expires that member's view of us.
		if err := s.sendPlain(ctx, ch, to, memberMessage{typ: msgStop, member: local, id: s.id}); err != nil {
			s.log.Warn("tribes static membership: send MSG_STOP", "err", err)
		}
	}
	s.update(func(now time.Time) (added, gone []channel.Member) {
		for k, e := range s.view {
			gone = append(gone, e.m)
			delete(s.view, k)
		}
		return nil, gone
	})
	return nil
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

// Heartbeat implements channel.MembershipService: with a negative PingInterval it pings
// and expires the members (Tomcat's useThread=false); otherwise the service's own
// goroutine does that.
func (s *Service) Heartbeat() {
	if s.cfg.PingInterval >= 0 {
		return
	}
	s.mu.Lock()
	r := s.run
	s.mu.Unlock()
	if r != nil {
		s.ping(r)
	}
}

func (s *Service) pingLoop(r *runState) {
	defer close(r.done)
	t := time.NewTicker(s.cfg.PingInterval)
	defer t.Stop()
	for {
		select {
		case <-r.ctx.Done():
			return
		case <-t.C:
			s.ping(r)
		}
	}
}

// ping sends a PING to the reachable static members, then drops the members not heard
// from within ExpirationTime.
func (s *Service) ping(r *runState) {
	s.announce(r.ctx, r, msgPing)
	if r.ctx.Err() != nil {
		return
	}
	s.update(func(now time.Time) (added, gone []channel.Member) {
		for k, e := range s.view {
			if now.Sub(e.heard) > s.cfg.ExpirationTime {
				gone = append(gone, e.m)
				delete(s.view, k)
			}
		}
		return nil, gone
	})
}

// announce sends a START or PING to every static member that accepts a TCP connection and
// takes the members from the replies. A member the send fails for is dropped.
func (s *Service) announce(ctx context.Context, r *runState, typ int32) {
	to := s.reachable(ctx)
	if len(to) == 0 {
		return
	}
	s.mu.Lock()
	ch := s.ch
	s.mu.Unlock()
	msg, err := s.cls.object(memberMessage{typ: typ, member: ch.LocalMember(), id: s.id})
	if err != nil {
		s.log.Error("tribes static membership: encode "+typeName(typ), "err", err)
		return
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.RPCTimeout)
	defer cancel()
	sent := time.Now() // before the request leaves: its replies are written after it
	resps, err := r.rpc.Call(ctx, to, msg, rpc.AllReply, s.cfg.SendOptions)
	replies := 0
	for _, resp := range resps {
		m, derr := decode(resp.Message)
		if derr != nil || !m.is(s.id) {
			s.log.Warn("tribes static membership: bad reply to "+typeName(typ), "from", resp.Member.String(), "err", derr)
			continue
		}
		replies++
		s.heard(resp.Member, m.member, false, sent)
	}
	// A member that does not answer in time is not an error: it expires.
	if faulty := channel.FaultyMembers(err); len(faulty) > 0 {
		s.log.Warn("tribes static membership: "+typeName(typ)+" failed", "err", err)
		s.dropFaulty(faulty)
	}
	if typ == msgStart && replies == 0 {
		s.log.Warn("tribes static membership: no replies to MSG_START", "members", len(to))
	}
}

// reachable returns the static members, less the local one, that accept a TCP connection
// within ConnectTimeout (StaticMembershipProvider.getAliveMembers), checked in parallel.
func (s *Service) reachable(ctx context.Context) []channel.Member {
	s.mu.Lock()
	local := s.local
	s.mu.Unlock()
	var cands []channel.Member
	for _, m := range s.cfg.Members {
		if !isLocal(m, local) {
			cands = append(cands, m)
		}
	}
	ok := make([]bool, len(cands))
	var wg sync.WaitGroup
	d := net.Dialer{Timeout: s.cfg.ConnectTimeout}
	for i, m := range cands {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := d.DialContext(ctx, "tcp", m.Addr())
			if err == nil {
				ok[i] = true
				_ = c.Close()
			}
		}()
	}
	wg.Wait()
	var out []channel.Member
	for i, m := range cands {
		if ok[i] {
			out = append(out, m)
		}
	}
	return out
}

func isLocal(m, local channel.Member) bool {
	if m.UniqueID != (wire.UniqueID{}) && m.UniqueID == local.UniqueID {
		return true
	}
	return m.Port == local.Port && m.IP() == local.IP()
}

// active reports whether the member protocol runs.
func (s *Service) active() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.run != nil
}

// replyRequest answers a START or PING (StaticMembershipProvider.replyRequest): the sender
// is alive, and the reply is the same message carrying the local member. Other messages
// get a null reply; one that is no member message is counted (Stats.BadRequests) and
// logged rate-limited per sender address.
func (s *Service) replyRequest(v any, from channel.Member) (any, error) {
	m, err := decode(v)
	if err != nil {
		s.badRequests.Add(1)
		s.rl.LogFunc(slog.LevelWarn, from.Addr(), "bad request", "tribes static membership: bad request",
			func() []any { return []any{"from", from.String(), "err", err} })
		return nil, nil
	}
	if !m.is(s.id) || (m.typ != msgStart && m.typ != msgPing) || !s.active() {
		return nil, nil
	}
	s.heard(from, m.member, m.typ == msgStart, time.Time{})
	s.mu.Lock()
	ch := s.ch
	s.mu.Unlock()
	m.member = ch.LocalMember()
	o, err := s.cls.object(m)
	if err != nil {
		return nil, fmt.Errorf("staticsvc: encode reply: %w", err)
	}
	return o, nil
}

// leftOver takes a late reply to a START or PING as a sign of life.
func (s *Service) leftOver(v any, from channel.Member) {
	m, err := decode(v)
	if err != nil || !m.is(s.id) || (m.typ != msgStart && m.typ != msgPing) || !s.active() {
		return
	}
	s.heard(from, m.member, false, time.Time{})
}

// stopListener receives the plain (non-RPC) member messages: MSG_STOP.
type stopListener struct{ s *Service }

// AcceptNonMember implements channel.NonMemberListener: a STOP may come from a member
// this node no longer lists.
func (l stopListener) AcceptNonMember(msg *channel.Message) bool { return l.Accept(msg) }

func (l stopListener) Accept(msg *channel.Message) bool {
	return msg.Options&channel.OptByteMessage == 0 && startsWithClass(msg.Data, memberMessageClass)
}

func (l stopListener) MessageReceived(msg *channel.Message) error {
	m, err := unmarshal(msg.Data)
	if err != nil {
		return err
	}
	if !m.is(l.s.id) || !l.s.active() {
		return nil
	}
	switch m.typ {
	case msgStop:
		l.s.left(m.member)
	case msgStart, msgPing:
		l.s.heard(msg.Source, m.member, m.typ == msgStart, time.Time{})
	}
	return nil
}

// startsWithClass reports whether the serialization stream b starts with a new object of
// the class called name (AC ED 00 05, TC_OBJECT, TC_CLASSDESC, the name).
func startsWithClass(b []byte, name string) bool {
	const off = 8
	if len(b) < off+len(name) || b[0] != 0xAC || b[1] != 0xED || b[4] != 0x73 || b[5] != 0x72 {
		return false
	}
	return int(b[6])<<8|int(b[7]) == len(name) && string(b[off:off+len(name)]) == name
}

// sendPlain sends m as a serialized object, without RPC.
func (s *Service) sendPlain(ctx context.Context, ch *channel.Channel, to []channel.Member, m memberMessage) error {
	b, err := s.cls.marshal(m)
	if err != nil {
		return err
	}
	return ch.SendMessage(ctx, to, &channel.Message{Options: s.cfg.SendOptions &^ channel.OptByteMessage, Data: b})
}

// Owns reports whether msg is one of the member protocol's messages of this service, a
// member message with its membership id or an RPC request or reply (RpcMessage,
// NoRpcChannelReply) whose stream carries that id, which is its rpc id. An application
// listener that accepts every message can use Owns to leave them alone.
func (s *Service) Owns(msg *channel.Message) bool {
	if msg.Options&channel.OptByteMessage != 0 {
		return false
	}
	if startsWithClass(msg.Data, memberMessageClass) {
		m, err := unmarshal(msg.Data)
		return err == nil && m.is(s.id)
	}
	return (startsWithClass(msg.Data, rpcMessageClass) || startsWithClass(msg.Data, noRPCReplyClass)) &&
		bytes.Contains(msg.Data, s.id)
}
