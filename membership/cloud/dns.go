package cloud

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"sync/atomic"
	"time"

	"github.com/gotribes/tribes/internal/ratelog"
)

// DNS resolves a name to the members' addresses, as Tomcat's DNSMembershipProvider: in
// Kubernetes, a headless service (clusterIP: None) whose selector matches the pods.
// Every address is an instance whose id is AddressUniqueID, with no creation time.
//
// An answer that came truncated on Go's TCP attempt (a Dial that answers it over UDP, or
// more addresses than one TCP message holds) gives the addresses that came, and a warning
// naming the name goes to Config.Logger, once, then rate-limited
// (TestDNSTruncatedAnswerIsLogged): the provider watches the connections of Go's DNS
// client, through the Resolver's Dial or, without one, through a zero net.Dialer as Go's
// resolver dials (TestDNSTruncationWatchedWithoutADial); a lookup Go leaves to the
// system's resolver (cgo) is not seen. Only a truncated answer to the query counts: a
// forged or stray one, which Go's resolver skips or rejects, does not
// (TestDNSForgedTruncatedResponseIsNotCounted), nor one cut short, which it fails to
// read (TestTruncationWatchWaitsForTheWholeAnswer); its question is parsed as the
// resolver parses it, a compression pointer beyond its first bytes followed
// (TestDNSTruncatedAnswerWithAPointerInItsQuestionIsCounted). Each fetch with a
// truncated answer is counted (TruncatedAnswers, Stats.TruncatedAnswers).
//
// The configured Resolver is read at each fetch, as when used directly: a change of its
// fields made between two fetches applies to the next (TestDNSFollowsTheResolverAfterNew);
// one made during a fetch is a data race, as for any net.Resolver in use.
type DNS struct {
	name      string
	resolver  *net.Resolver    // as configured: watched anew for each fetch
	timeout   time.Duration    // ConnectTimeout + ReadTimeout
	rl        *ratelog.Limiter // truncated answers
	truncated atomic.Uint64    // fetches with a truncated answer
}

// NewDNS returns the DNS provider of cfg (resolved as New does).
func NewDNS(cfg Config) (*DNS, error) {
	c, err := cfg.Resolved()
	if err != nil {
		return nil, err
	}
	return newDNS(c), nil
}

func newDNS(c Config) *DNS {
	// The resolver is used as configured: its Dial is the only way to its DNS server
	// (TestDNSDialsOnlyThroughTheConfiguredResolver); its connections are watched for a
	// truncated answer.
	log := c.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &DNS{name: c.DNS.ServiceName, resolver: c.DNS.Resolver, timeout: c.ConnectTimeout + c.ReadTimeout,
		rl: ratelog.New(ratelog.Config{Logger: log, First: 1})}
}

// TruncatedAnswers returns how many fetches had an answer that came truncated on Go's
// TCP attempt (each logged, rate-limited): fetches that may have missed members.
func (d *DNS) TruncatedAnswers() uint64 { return d.truncated.Load() }

// Name is the name resolved.
func (d *DNS) Name() string { return d.name }

// Fetch implements Provider.
func (d *DNS) Fetch(ctx context.Context) ([]Instance, error) {
	if d.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d.timeout)
		defer cancel()
	}
	var truncated atomic.Bool
	// A resolver of its own per fetch: the configured one's fields as they are now, and
	// no lookup merged with another fetch's, whose flag would be marked instead.
	addrs, err := watchTruncation(d.resolver).LookupNetIP(context.WithValue(ctx, truncKey{}, &truncated), "ip", d.name)
	if err != nil {
		return nil, fmt.Errorf("%w: resolving %s: %v", ErrFetch, d.name, err)
	}
	if truncated.Load() {
		d.truncated.Add(1)
		d.rl.Log(slog.LevelWarn, d.name, "dns truncated",
			"tribes cloud membership: DNS answer truncated: only the addresses it holds are members (a Resolver.Dial that answers Go's TCP attempt over UDP, or more addresses than one TCP message holds)",
			"addresses", len(addrs)) // the name is the line's peer
	}
	out := make([]Instance, 0, len(addrs))
	for _, a := range addrs {
		a = a.Unmap().WithZone("")
		out = append(out, Instance{IP: JavaHostAddress(a), UniqueID: AddressUniqueID(a)})
	}
	return out, nil
}
