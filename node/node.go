package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/interceptors"
	"github.com/gotribes/tribes/membership/cloud"
	"github.com/gotribes/tribes/membership/mcast"
	"github.com/gotribes/tribes/membership/static"
	"github.com/gotribes/tribes/membership/staticsvc"
	"github.com/gotribes/tribes/transport/nio"
)

// Config configures a node. The zero value is a node on 127.0.0.1, the first free port
// from 4000, with an empty static membership and no interceptors.
type Config struct {
	// Transport configures the TCP transport (Tomcat's <Transport> and <Receiver>). Nil
	// means nio.DefaultConfig(): Tomcat's defaults, on 127.0.0.1:4000 with autoBind 100.
	Transport *nio.Config
	// Multicast, if not nil, configures multicast membership (Tomcat's <Membership>,
	// McastService); mcast.DefaultLocalConfig() suits nodes on one machine. Nil means
	// static membership of StaticMembers.
	Multicast *mcast.Config
	// Cloud, if not nil, configures cloud membership (Tomcat's CloudMembershipService:
	// members from the Kubernetes API or DNS; membership/cloud), its Logger defaulting to
	// Logger. It excludes Multicast and the static settings. If UniqueID is zero, New asks
	// the source for the id the other nodes give this one (cloud.Service.LocalUniqueID) and
	// fails if the source does not list it.
	Cloud *cloud.Config
	// StaticMembers are the members of the static membership (default none). Setting them
	// together with Multicast is an error: add static members to multicast with the
	// staticmember interceptor instead. Each needs Host and Port (else an error wrapping
	// channel.ErrInvalidConfig); an IPv4 Host in the 16-byte form of net.IPv4 and
	// net.ParseIP is listed in its 4-byte form, the one members' messages carry.
	StaticMembers []channel.Member
	// StaticProtocol, if not nil, makes the static membership speak Tribes'
	// StaticMembershipService protocol (membership/staticsvc) with these settings, so Java
	// nodes configured with StaticMembershipService list this node; its Members default to
	// StaticMembers and its Logger to Logger. Nil: a silent static list (membership/static),
	// which such Java nodes never list: they send this node nothing, though it reaches
	// them (interop/tomcat TestGoWithoutStaticProtocolIsNotListedByTomcat).
	StaticProtocol *staticsvc.Config
	// Interceptors is the interceptor stack as interceptors.Build reads it, in Tribes'
	// configuration order (first = closest to the application), e.g.
	// "order,gzip,ping,tcpfailure". Default: none.
	Interceptors string
	// Above are interceptors put above the Interceptors stack (closer to the application),
	// Below ones put under it (closer to the transport). Default: none.
	Above, Below []channel.Interceptor
	// UniqueID, Domain and Payload go into the local member (channel.Config; default a
	// random id, no domain, no payload).
	UniqueID channel.UniqueID
	Domain   []byte
	Payload  []byte
	// AcceptNonMembers lets messages from senders that are not members reach the chain
	// (channel.Config.AcceptNonMembers; default false: they are dropped).
	AcceptNonMembers bool
	// AckUnaccepted answers ACK to a synchronized-ack message no listener accepted, as
	// Java Tribes does (channel.Config.AckUnaccepted; default false: FAIL_ACK).
	AckUnaccepted bool
	// Logger is used by the channel, the transport, the membership and the interceptors
	// built from Interceptors, unless Transport or Multicast carry a logger of their own.
	// Nil discards.
	Logger *slog.Logger
}

// New builds the node's channel, unstarted. Configuration errors wrap
// channel.ErrInvalidConfig and name the part at fault ("node: interceptors: …"). With
// Cloud and no UniqueID it asks the cloud source once (within the cloud timeouts).
func New(cfg Config) (*channel.Channel, error) {
	tcfg := nio.DefaultConfig()
	if cfg.Transport != nil {
		tcfg = *cfg.Transport
	}
	if tcfg.Logger == nil {
		tcfg.Logger = cfg.Logger
	}
	statics, err := staticMembers(cfg.StaticMembers)
	if err != nil {
		return nil, err
	}
	var membership channel.MembershipService = static.New(statics...)
	if cfg.StaticProtocol != nil {
		scfg := *cfg.StaticProtocol
		if scfg.Members == nil {
			scfg.Members = statics
		}
		if scfg.Logger == nil {
			scfg.Logger = cfg.Logger
		}
		svc, err := staticsvc.New(scfg)
		if err != nil {
			return nil, fmt.Errorf("node: static membership: %w", err)
		}
		membership = svc
	}
	if cfg.Multicast != nil {
		if len(cfg.StaticMembers) > 0 || cfg.StaticProtocol != nil {
			return nil, fmt.Errorf("%w: node: static members and multicast exclude each other; add static members to multicast "+
				"with the staticmember interceptor", channel.ErrInvalidConfig)
		}
		mcfg := *cfg.Multicast
		if mcfg.Logger == nil {
			mcfg.Logger = cfg.Logger
		}
		ms, err := mcast.New(mcfg)
		if err != nil {
			return nil, fmt.Errorf("node: multicast: %w", err)
		}
		membership = ms
	}
	id := cfg.UniqueID
	if cfg.Cloud != nil {
		if cfg.Multicast != nil || len(cfg.StaticMembers) > 0 || cfg.StaticProtocol != nil {
			return nil, fmt.Errorf("%w: node: cloud membership excludes multicast and static members", channel.ErrInvalidConfig)
		}
		ccfg := *cfg.Cloud
		if ccfg.Logger == nil {
			ccfg.Logger = cfg.Logger
		}
		cs, err := cloud.New(ccfg)
		if errors.Is(err, cloud.ErrConfig) {
			return nil, fmt.Errorf("%w: node: cloud membership: %w", channel.ErrInvalidConfig, err)
		}
		if err != nil {
			return nil, fmt.Errorf("node: cloud membership: %w", err)
		}
		if id == (channel.UniqueID{}) {
			if id, err = cs.LocalUniqueID(context.Background()); err != nil {
				if errors.Is(err, cloud.ErrConfig) {
					return nil, fmt.Errorf("%w: node: cloud membership: this node's id: %w", channel.ErrInvalidConfig, err)
				}
				return nil, fmt.Errorf("node: cloud membership: this node's id: %w", err)
			}
		}
		membership = cs
	}
	built, err := interceptors.Build(cfg.Interceptors, cfg.Logger)
	if err != nil {
		return nil, fmt.Errorf("node: interceptors: %w", err)
	}
	tr, err := nio.New(tcfg)
	if err != nil {
		return nil, fmt.Errorf("node: transport: %w", err)
	}
	return channel.New(channel.Config{
		Transport:        tr,
		Membership:       membership,
		Interceptors:     slices.Concat(cfg.Above, built, cfg.Below),
		UniqueID:         id,
		Domain:           cfg.Domain,
		Payload:          cfg.Payload,
		AcceptNonMembers: cfg.AcceptNonMembers,
		AckUnaccepted:    cfg.AckUnaccepted,
		Logger:           cfg.Logger,
	})
}

// staticMembers checks the static members and returns them with IPv4 hosts in their
// 4-byte form: net.IPv4 and net.ParseIP return 16 bytes, but members' messages carry 4
// (as Java's do), and a member is identified by its host's bytes, so such a member's
// messages were dropped as a non-member's (TestStaticMembersFromNetIP). A member without
// host or port is refused, as staticsvc refuses it, saying that a channel's LocalMember
// has them once started (TestStaticMemberFromAnUnstartedChannel).
func staticMembers(ms []channel.Member) ([]channel.Member, error) {
	if ms == nil {
		return nil, nil
	}
	out := make([]channel.Member, len(ms))
	for i, m := range ms {
		if m.Port <= 0 || len(m.Host) == 0 {
			return nil, fmt.Errorf("%w: node: static member %d (%s) has no address: it needs Host and Port "+
				"(a channel's LocalMember has them only once the channel started: start it first)",
				channel.ErrInvalidConfig, i, m.String())
		}
		out[i] = m.Unmapped()
	}
	return out, nil
}
