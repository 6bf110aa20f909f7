package cloud

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/callq"
	"github.com/gotribes/tribes/internal/ratelog"
	"github.com/gotribes/tribes/wire"
)

// Service is Tribes' CloudMembershipService: a channel.MembershipService whose members
// are what an external source lists (the Kubernetes API, DNS), asked on Start and on
// every channel heartbeat. Nothing is sent on the network for membership: every node asks
// the source itself. A member the source stopped listing disappears ExpirationTime after
// its last listing. Every member has the local receiver's port: all nodes of a cloud
// cluster listen on the same port, each at its own address.
//
// Membership events go up one at a time and in the order of the changes, outside the
// service's locks, from the goroutine of the change (Start, a heartbeat, Stop) or, if
// another one is delivering, from that one, after the event under way; each waits for
// its events, Start and Stop until their ctx ends, a heartbeat until the membership-rx
// level stops; a Start or Stop made from the listener waits for none, so a listener may
// stop the channel, or restart the service, with context.Background() too
// (TestChannelStopFromAListenerReturns, TestRestartFromTheListenerWithBackgroundReturns).
// The event of a sender that became a member (DNS provider) is waited for by nothing but
// a Stop that follows (Stop waits for every event queued before it): it goes up on a
// goroutine of the service, or on that of a change delivering meanwhile, so
// that no listener holds the receive of a message (TestSenderEventLeavesTheReceivePath); a
// listener's panic in it is logged whichever goroutine delivers it, and the events after
// it still go up (TestSenderEventPanicIsLoggedOnAnyGoroutine).
type Service struct {
	cfg     Config
	prov    Provider
	dnsMode bool // unknown senders of messages become members (Tomcat's DNS provider)
	log     *slog.Logger
	rl      *ratelog.Limiter // members over the limit: the DNS provider's come from senders

	overLimit atomic.Uint64

	evMu   sync.Mutex  // held across each change and the queueing of its events, to keep them in order; taken before mu
	events callq.Queue // the events waiting to go up, queued under evMu, run outside it

	mu       sync.Mutex
	running  channel.Service
	started  time.Time // start of the membership-rx level: alive times are relative to it
	local    channel.Member
	l        channel.MembershipListener
	members  map[channel.MemberKey]*entry
	view     []channel.Member            // replaced on every change, never modified
	addrs    map[netip.AddrPort]struct{} // the view's addresses (the DNS provider's sender check)
	listedID wire.UniqueID               // the id the source gives this node, once found
	warnedID bool
	failing  bool
	health   func(error)
	ch       *channel.Channel
	unlisten func()
	run      *run // the membership-rx level's run; nil while it is stopped
}

// run is one start of the membership-rx level: Stop cancels its context, and what a
// fetch of an ended run brings (a listing, or the failure Stop's cancellation caused) is
// dropped. Each run has its own fetch lock, so that a Start right after a Stop asks the
// source at once even if the last run's fetch has not returned yet.
type run struct {
	ctx      context.Context
	cancel   context.CancelFunc
	fetching sync.Mutex // one fetch at a time
}

type entry struct {
	m    channel.Member
	seen time.Time
}

// New returns the service of cfg (see Config for how fields, environment and defaults
// combine). A Kubernetes provider reads its CA and token files here: a missing file is
// an error wrapping ErrConfig.
func New(cfg Config) (*Service, error) {
	c, err := cfg.Resolved()
	if err != nil {
		return nil, err
	}
	if c.LocalIP == "" {
		ctx, cancel := context.WithTimeout(context.Background(), c.ReadTimeout+c.ConnectTimeout)
		c.LocalIP, err = hostAddress(ctx, net.DefaultResolver)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("%w: local address (set Config.LocalIP): %v", ErrConfig, err)
		}
	}
	s := &Service{cfg: c, log: c.Logger, prov: c.Custom}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.rl = ratelog.New(ratelog.Config{Logger: s.log})
	if s.prov == nil {
		switch c.Provider {
		case ProviderDNS:
			s.prov, s.dnsMode = newDNS(c), true
		default:
			if s.prov, err = newKubernetes(c); err != nil {
				return nil, err
			}
		}
	}
	return s, nil
}

// hostAddress is Java's InetAddress.getLocalHost().getHostAddress(): the host name's
// first address, IPv4 preferred.
func hostAddress(ctx context.Context, r *net.Resolver) (string, error) {
	h, err := os.Hostname()
	if err != nil {
		return "", err
	}
	addrs, err := r.LookupNetIP(ctx, "ip", h)
	if err != nil {
		return "", err
	}
	if len(addrs) == 0 {
		return "", fmt.Errorf("%s has no address", h)
	}
	best := addrs[0].Unmap()
	for _, a := range addrs {
		if a.Unmap().Is4() {
			best = a.Unmap()
			break
		}
	}
	return JavaHostAddress(best), nil
}

// Config returns the configuration in use (after environment and defaults).
func (s *Service) Config() Config { return s.cfg }

// Provider returns the source of members.
func (s *Service) Provider() Provider { return s.prov }

// LocalUniqueID asks the source for this node's entry and returns the id the other nodes
// give it, to be used as the channel's UniqueID (channel.Config.UniqueID): Java nodes
// compute the ids of their members from the source, so a node advertising another id
// would be a second member to them. With the DNS provider it is the digest of LocalIP
// and needs no lookup; with the Kubernetes provider this node's pod must be listed and
// running, else the error wraps ErrLocalNotListed (retry: a pod is listed once it runs).
func (s *Service) LocalUniqueID(ctx context.Context) (wire.UniqueID, error) {
	if s.dnsMode {
		a, err := netip.ParseAddr(s.cfg.LocalIP)
		if err != nil {
			return wire.UniqueID{}, fmt.Errorf("%w: LocalIP %q: %v", ErrConfig, s.cfg.LocalIP, err)
		}
		return AddressUniqueID(a), nil
	}
	insts, err := s.fetch(ctx)
	if err != nil {
		return wire.UniqueID{}, err
	}
	for _, in := range insts {
		if sameIP(in.IP, s.cfg.LocalIP) {
			return in.UniqueID, nil
		}
	}
	return wire.UniqueID{}, fmt.Errorf("%w: %s among %d instances", ErrLocalNotListed, s.cfg.LocalIP, len(insts))
}

func (s *Service) fetch(ctx context.Context) ([]Instance, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.FetchTimeout)
	defer cancel()
	return s.prov.Fetch(ctx)
}

// SetHealthFunc implements channel.HealthReporter: a failed fetch reports its error, the
// next successful one nil.
func (s *Service) SetHealthFunc(f func(error)) {
	s.mu.Lock()
	s.health = f
	s.mu.Unlock()
}

// SetChannel implements channel.ChannelUser. The DNS provider watches the channel's
// messages for senders it does not list (see package doc).
func (s *Service) SetChannel(c *channel.Channel) {
	s.mu.Lock()
	s.ch = c
	s.mu.Unlock()
}

// Stats are the counters of a Service.
type Stats struct {
	// MembersOverLimit counts new members ignored because Config.MaxMembers were kept:
	// listed by the source, or, with the DNS provider, senders of messages (logged
	// rate-limited).
	MembersOverLimit uint64
	// TruncatedAnswers counts, with the DNS provider, the fetches whose answer came
	// truncated on Go's TCP attempt (logged rate-limited; see DNS): each may have missed
	// members. Zero with another provider.
	TruncatedAnswers uint64
}

// Stats returns a snapshot of the counters.
func (s *Service) Stats() Stats {
	st := Stats{MembersOverLimit: s.overLimit.Load()}
	if d, ok := s.prov.(*DNS); ok {
		st.TruncatedAnswers = d.TruncatedAnswers()
	}
	return st
}

var _ interface {
	channel.MembershipService
	channel.ChannelUser
	channel.HealthReporter
} = (*Service)(nil)
