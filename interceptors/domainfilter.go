package interceptors

import (
	"bytes"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/ratelog"
)

// DefaultDomainLogInterval is Tomcat's DomainFilterInterceptor logInterval.
const DefaultDomainLogInterval = 100

// DomainFilterConfig configures a DomainFilter.
type DomainFilterConfig struct {
	// Domain is the accepted domain, compared byte for byte (Tomcat domain; default
	// empty: only members without a domain pass). Ignored when LocalDomain is set.
	Domain []byte
	// LocalDomain accepts the local member's own domain instead (read on every check, so
	// Channel.SetDomain applies at once). No Tomcat equivalent.
	LocalDomain bool
	// LogInterval is how many dropped messages make one warning (Tomcat logInterval,
	// default 100).
	LogInterval int
	// Logger receives the warnings. Nil discards them.
	Logger *slog.Logger
}

// DomainFilter keeps a channel to one cluster domain (Tribes' DomainFilterInterceptor):
// messages from members of another domain are dropped, and so are their membership
// events; Members lists only members of the domain. A warning is logged for every
// LogInterval dropped messages, rate-limited (internal/ratelog), naming the domain's
// length and at most its first 32 bytes. It adds no bytes and ignores option flags.
type DomainFilter struct {
	channel.InterceptorBase
	cfg DomainFilterConfig
	log *slog.Logger
	rl  *ratelog.Limiter // the drop warnings: their source and domain are a sender's to write

	refused, refusedMembers, logCounter atomic.Uint64
}

// NewDomainFilter returns a domain filter; zero fields of cfg get Tomcat's defaults.
func NewDomainFilter(cfg DomainFilterConfig) (*DomainFilter, error) {
	if cfg.LogInterval == 0 {
		cfg.LogInterval = DefaultDomainLogInterval
	}
	if cfg.LogInterval < 0 {
		return nil, configError("domain: LogInterval must not be negative")
	}
	cfg.Domain = bytes.Clone(cfg.Domain)
	f := &DomainFilter{cfg: cfg, log: cfg.Logger}
	if f.log == nil {
		f.log = slog.New(slog.DiscardHandler)
	}
	f.rl = ratelog.New(ratelog.Config{Logger: f.log})
	return f, nil
}

// Config returns the configuration in use (defaults filled in).
func (f *DomainFilter) Config() DomainFilterConfig { return f.cfg }

func (f *DomainFilter) domain() []byte {
	if f.cfg.LocalDomain {
		return f.LocalMember(false).Domain
	}
	return f.cfg.Domain
}

func (f *DomainFilter) accepts(m channel.Member) bool { return bytes.Equal(m.Domain, f.domain()) }

// MessageReceived passes up only messages from members of the domain.
func (f *DomainFilter) MessageReceived(msg *channel.Message) error {
	if f.accepts(msg.Source) {
		return f.Prev().MessageReceived(msg)
	}
	f.refused.Add(1)
	if f.logCounter.Add(1)%uint64(f.cfg.LogInterval) == 0 {
		src := msg.Source
		f.rl.LogFunc(slog.LevelWarn, src.Addr(), "foreign domain", "domain filter: messages from another domain dropped",
			func() []any {
				return []any{"from", src.String(), "domain", logDomain(src.Domain), "domainLen", len(src.Domain),
					"dropped", f.refused.Load()}
			})
	}
	return nil
}

// maxLoggedDomain is how much of a domain a log line shows: a sender writes it, up to
// wire.MaxMemberSize bytes.
const maxLoggedDomain = 32

// logDomain returns d for a log line, cut to its first maxLoggedDomain bytes.
func logDomain(d []byte) string {
	if len(d) <= maxLoggedDomain {
		return string(d)
	}
	return string(d[:maxLoggedDomain]) + "..."
}

// MemberAdded passes the event up for members of the domain only.
func (f *DomainFilter) MemberAdded(m channel.Member) {
	if f.accepts(m) {
		f.Prev().MemberAdded(m)
		return
	}
	f.refusedMembers.Add(1)
	f.log.Info("domain filter: member of another domain ignored", "member", m.String(), "domain", logDomain(m.Domain),
		"domainLen", len(m.Domain))
}

// MemberDisappeared passes the event up for members of the domain only.
func (f *DomainFilter) MemberDisappeared(m channel.Member) {
	if f.accepts(m) {
		f.Prev().MemberDisappeared(m)
	}
}

// Members returns the members of the domain: the layer below's slice itself when they all
// are, so the send path does not allocate.
func (f *DomainFilter) Members() []channel.Member {
	all := f.Next().Members()
	i := slices.IndexFunc(all, func(m channel.Member) bool { return !f.accepts(m) })
	if i < 0 {
		return all
	}
	out := slices.Clone(all[:i])
	for _, m := range all[i+1:] {
		if f.accepts(m) {
			out = append(out, m)
		}
	}
	return out
}

// Member looks up a member of the domain.
func (f *DomainFilter) Member(key channel.MemberKey) (channel.Member, bool) {
	m, ok := f.Next().Member(key)
	if !ok || !f.accepts(m) {
		return channel.Member{}, false
	}
	return m, true
}

// Refused reports how many messages and membership events were dropped.
func (f *DomainFilter) Refused() (messages, members uint64) {
	return f.refused.Load(), f.refusedMembers.Load()
}

// ParseDomain reads a domain as Tribes does: "{1,2,3}" is a list of signed decimal bytes,
// anything else is taken as ISO-8859-1 text. Its errors wrap channel.ErrInvalidConfig.
func ParseDomain(s string) ([]byte, error) {
	if strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}") {
		var out []byte
		for _, f := range strings.Split(s[1:len(s)-1], ",") {
			if f = strings.TrimSpace(f); f == "" {
				continue
			}
			n, err := strconv.ParseInt(f, 10, 8)
			if err != nil {
				return nil, fmt.Errorf("%w: domain %q: %w", channel.ErrInvalidConfig, s, err)
			}
			out = append(out, byte(n))
		}
		return out, nil
	}
	out := make([]byte, 0, len(s))
	for _, r := range s {
		if r > 0xff {
			return nil, fmt.Errorf("%w: domain %q: %q is not ISO-8859-1: %w", channel.ErrInvalidConfig, s, r, strconv.ErrRange)
		}
		out = append(out, byte(r))
	}
	return out, nil
}

func init() {
	Register("domain", func(p *Props) (channel.Interceptor, error) {
		cfg := DomainFilterConfig{Logger: p.Logger()}
		if v, ok := p.get("domain"); ok {
			d, err := ParseDomain(v)
			if err != nil {
				p.fail("domain", v, err)
			}
			cfg.Domain = d
		} else {
			// Without a domain property the filter keeps to the node's own domain (Tomcat
			// would filter on the empty domain).
			cfg.LocalDomain = true
		}
		cfg.LogInterval = p.Int("logInterval", DefaultDomainLogInterval)
		return NewDomainFilter(cfg)
	})
}
