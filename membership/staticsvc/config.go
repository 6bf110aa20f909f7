package staticsvc

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/ratelog"
	"github.com/gotribes/tribes/jserial"
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
	// Limits bound the Java deserialization of each member message received (its
	// rpc.Channel's rpc.Config.Limits): nesting depth, handles, array lengths and the
	// message's bytes. Zero fields take jserial's defaults (DefaultMaxDepth 1000,
	// DefaultMaxHandles 1<<20 or one per 8 bytes of the message, DefaultMaxArrayLen 1<<24,
	// DefaultMaxBytes 64 MiB); Tomcat has no such setting (a JVM-wide jdk.serialFilter
	// maxdepth, maxrefs, maxarray and maxbytes, if one is set). A message beyond them is
	// not handled, and its member not listed (TestConfigLimitsRefuseAMemberMessage). The
	// rpc.Channels of one channel share the decoding of its messages, the largest of
	// their limits applying. Negative fields are refused with ErrInvalidConfig.
	Limits jserial.DecoderConfig
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
	// StopsRefuted counts MSG_STOPs naming a listed member that answered the PING they
	// made this node send it with its own member (same address and unique id): the STOP
	// was not its own, and the member stays listed (TestForgedStopDoesNotDropALiveMember).
	StopsRefuted uint64
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
	if err := cfg.Limits.Validate(); err != nil {
		return nil, fmt.Errorf("%w: staticsvc.Config.Limits: %w", channel.ErrInvalidConfig, err)
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
		BadRequests: s.badRequests.Load(), StopsRefuted: s.stopsRefuted.Load()}
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
