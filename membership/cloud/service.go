package cloud

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"slices"
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
// level stops, so a listener may stop the channel (TestChannelStopFromAListenerReturns).
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

// Start implements channel.MembershipService. Starting the membership-rx level asks the
// source at once (within ctx and the timeouts); a failed first fetch is logged and
// reported to the health function, not returned, as in Tomcat: the next heartbeat tries
// again. Start waits for the members listed to reach the listener until ctx ends: it then
// returns an error wrapping ctx's, and they still go up, in order.
func (s *Service) Start(ctx context.Context, svc channel.Service, local channel.Member, l channel.MembershipListener) error {
	s.mu.Lock()
	s.local, s.l = local, l
	was := s.running
	s.running |= svc & channel.SvcMembership
	first := was&channel.SvcMembershipRx == 0 && svc&channel.SvcMembershipRx != 0
	var r *run
	if first {
		s.started = time.Now()
		s.members = make(map[channel.MemberKey]*entry)
		s.view, s.addrs = nil, nil
		r = &run{}
		r.ctx, r.cancel = context.WithCancel(context.Background())
		s.run = r
		if s.dnsMode && s.ch != nil {
			s.unlisten = s.ch.AddMessageListener(senderWatcher{s})
		}
	}
	s.mu.Unlock()
	if first {
		if err := s.poll(ctx, r); err != nil {
			return fmt.Errorf("cloud: start: the members listed not yet delivered to the membership listener: %w", err)
		}
	}
	return nil
}

// Stop implements channel.MembershipService. Stopping the membership-rx level reports
// every member as gone and cancels a fetch under way (a heartbeat's: the channel does not
// wait for it); what that fetch returns, its failure included, is neither applied nor
// reported to the health function (TestStopDuringHeartbeatFetchIsNoFailure), and a Start
// that follows asks the source at once without waiting for it
// (TestRestartDuringCancelledFetchFetchesAtStart). Stop waits, until ctx ends, for every
// event queued before it to reach the listener (a listing's, a sender's) and for the
// members it reports gone, whether or not it reports any, so that the listener is called
// no more once Stop returned nil (TestStopWaitsForEarlierEvents); when ctx ends first it
// returns an error wrapping ctx's, and the events go up after the listener call under
// way. A Stop made from the listener (a listener's own Stop of the channel) waits for the
// call it is made in, so until its ctx ends: give it a deadline
// (TestChannelStopFromAListenerReturns).
func (s *Service) Stop(ctx context.Context, svc channel.Service) error {
	s.evMu.Lock()
	s.mu.Lock()
	var gone []channel.Member
	l := s.l
	if s.running&channel.SvcMembershipRx != 0 && svc&channel.SvcMembershipRx != 0 {
		gone = s.view
		s.view, s.members, s.addrs = nil, nil, nil
		s.run.cancel()
		s.run = nil
		if s.unlisten != nil {
			s.unlisten()
			s.unlisten = nil
		}
		s.closeIdle()
	}
	s.running &^= svc
	s.mu.Unlock()
	done := s.queueLocked(l, nil, gone)
	if done == nil {
		done = s.queueMarkLocked() // the events queued before: no listener call after Stop returns
	}
	s.evMu.Unlock()
	s.rl.Flush()
	if err := s.events.RunWait(ctx, done); err != nil {
		return fmt.Errorf("cloud: stop: the membership events not yet delivered to the listener: %w", err)
	}
	return nil
}

// closeIdle closes the provider's kept-alive connection (the Kubernetes API's), if any.
func (s *Service) closeIdle() {
	if c, ok := s.prov.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// Stats are the counters of a Service.
type Stats struct {
	// MembersOverLimit counts new members ignored because Config.MaxMembers were kept:
	// listed by the source, or, with the DNS provider, senders of messages (logged
	// rate-limited).
	MembersOverLimit uint64
}

// Stats returns a snapshot of the counters.
func (s *Service) Stats() Stats { return Stats{MembersOverLimit: s.overLimit.Load()} }

// Heartbeat implements channel.MembershipService: it asks the source, adds the members
// it lists for the first time and expires those it has not listed for ExpirationTime. It
// waits for their events to reach the listener until the membership-rx level stops
// (TestWaitsForEventsEndWithStop).
func (s *Service) Heartbeat() {
	s.mu.Lock()
	r := s.run
	s.mu.Unlock()
	if r == nil {
		return
	}
	_ = s.poll(r.ctx, r) // an error only once r ended
}

// poll fetches for run r and applies, waiting for the events until ctx ends (ctx's error
// then); the expiry runs even when the fetch failed. A fetch that returns after r ended
// (Stop cancelled it) is neither reported nor applied.
func (s *Service) poll(ctx context.Context, r *run) error {
	if !r.fetching.TryLock() {
		return nil // a fetch is under way; it will do
	}
	defer r.fetching.Unlock()
	insts, err := s.fetch(ctx)
	if !s.report(r, err) {
		s.closeIdle() // the connection kept alive by a fetch that outlived Stop
		return nil
	}
	return s.apply(ctx, r, insts, time.Now())
}

// report reports the outcome of a fetch of run r; it reports nothing, and returns
// false, if r has ended.
func (s *Service) report(r *run, err error) bool {
	s.mu.Lock()
	if s.run != r {
		s.mu.Unlock()
		return false
	}
	was := s.failing
	s.failing = err != nil
	h := s.health
	s.mu.Unlock()
	switch {
	case err != nil && !was:
		s.log.Error("tribes cloud membership: fetch failed", "error", err)
	case err != nil:
		s.log.Debug("tribes cloud membership: fetch failed", "error", err)
	case was:
		s.log.Info("tribes cloud membership: fetch works again")
	}
	if h != nil && (err != nil || was) {
		h(err)
	}
	return true
}

// apply records a listing of run r made at now and delivers the resulting events,
// waiting for them until ctx ends (ctx's error then: they still go up, in order).
func (s *Service) apply(ctx context.Context, r *run, insts []Instance, now time.Time) error {
	s.evMu.Lock()
	s.mu.Lock()
	if s.run != r {
		s.mu.Unlock()
		s.evMu.Unlock()
		return nil
	}
	var added, gone []channel.Member
	skipped := 0
	for _, in := range insts {
		if sameIP(in.IP, s.cfg.LocalIP) {
			s.foundLocalLocked(in.UniqueID)
			continue
		}
		a, err := netip.ParseAddr(in.IP)
		if err != nil {
			skipped++
			continue
		}
		alive := int64(-1)
		if !in.Created.IsZero() {
			alive = s.started.Sub(in.Created).Milliseconds()
		}
		m := newMember(a, s.local.Port, in.UniqueID, alive)
		if m.Port == s.local.Port && m.IP() == s.local.IP() {
			continue // this node's own address, listed under another name
		}
		if s.touchLocked(m, now) {
			added = append(added, m)
		}
	}
	if skipped > 0 {
		s.log.Warn("tribes cloud membership: listed addresses that are not IP addresses skipped", "count", skipped)
	}
	for k, e := range s.members {
		if now.Sub(e.seen) > s.cfg.ExpirationTime {
			gone = append(gone, e.m)
			delete(s.members, k)
		}
	}
	if len(added) > 0 || len(gone) > 0 {
		s.rebuildLocked()
	}
	l := s.l
	s.mu.Unlock()
	done := s.queueLocked(l, added, gone)
	s.evMu.Unlock()
	return s.events.RunWait(ctx, done)
}

// touchLocked marks m seen at now; it reports whether m is new (and was added).
func (s *Service) touchLocked(m channel.Member, now time.Time) bool {
	k := m.Key()
	if e, ok := s.members[k]; ok {
		e.seen = now
		if e.m.AliveTime != m.AliveTime {
			e.m = m
			s.rebuildLocked()
		}
		return false
	}
	if len(s.members) >= s.cfg.MaxMembers {
		s.overLimit.Add(1)
		s.rl.LogFunc(slog.LevelWarn, m.Addr(), "member limit", "tribes cloud membership: member limit reached, member ignored",
			func() []any { return []any{"member", m.String(), "max", s.cfg.MaxMembers} })
		return false
	}
	s.members[k] = &entry{m: m, seen: now}
	return true
}

func (s *Service) foundLocalLocked(id wire.UniqueID) {
	s.listedID = id
	if id != s.local.UniqueID && !s.warnedID {
		s.warnedID = true
		s.log.Warn("tribes cloud membership: the source gives this node another unique id than the channel's: "+
			"Java nodes will not recognise its messages as a member's (set channel.Config.UniqueID from LocalUniqueID)",
			"listed", fmt.Sprintf("%x", id[:]), "channel", fmt.Sprintf("%x", s.local.UniqueID[:]))
	}
}

// ListedLocalID returns the id the source gave this node at the last fetch that listed
// it, and whether one did.
func (s *Service) ListedLocalID() (wire.UniqueID, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.listedID, s.listedID != (wire.UniqueID{})
}

// sameIP compares two listed addresses as addresses where both parse ("fd00::1" and
// Java's "fd00:0:0:0:0:0:0:1" are the same; Tomcat compares the text, and so misses
// itself in IPv6 pod lists), else as text.
func sameIP(a, b string) bool {
	x, err1 := netip.ParseAddr(a)
	y, err2 := netip.ParseAddr(b)
	if err1 != nil || err2 != nil {
		return a == b
	}
	return x.Unmap().WithZone("") == y.Unmap().WithZone("")
}

func newMember(a netip.Addr, port int32, id wire.UniqueID, alive int64) channel.Member {
	a = a.Unmap()
	var host []byte
	if a.Is4() {
		b := a.As4()
		host = b[:]
	} else {
		b := a.As16()
		host = b[:]
	}
	return channel.Member{Host: host, Port: port, SecurePort: -1, UDPPort: -1, UniqueID: id, AliveTime: alive}
}

func (s *Service) rebuildLocked() {
	v := make([]channel.Member, 0, len(s.members))
	for _, e := range s.members {
		v = append(v, e.m)
	}
	slices.SortFunc(v, func(a, b channel.Member) int {
		if c := cmp.Compare(b.AliveTime, a.AliveTime); c != 0 {
			return c
		}
		return cmp.Compare(a.String(), b.String())
	})
	s.view = v
	s.addrs = make(map[netip.AddrPort]struct{}, len(v))
	for _, m := range v {
		s.addrs[netip.AddrPortFrom(m.IP(), uint16(m.Port))] = struct{}{}
	}
}

// Members implements channel.MembershipService: oldest (largest alive time) first; the
// same slice until the membership changes (do not modify its elements).
func (s *Service) Members() []channel.Member {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clip(s.view)
}

// Member implements channel.MembershipService.
func (s *Service) Member(key channel.MemberKey) (channel.Member, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.members[key]
	if !ok {
		return channel.Member{}, false
	}
	return e.m, true
}

// senderWatcher is the DNS provider's channel listener: a message whose sender is not a
// member (by address and port) makes the sender a member, with the id Tomcat gives it.
// It accepts no message itself.
type senderWatcher struct{ s *Service }

func (w senderWatcher) Accept(msg *channel.Message) bool {
	w.s.sawSender(msg.Source)
	return false
}

func (w senderWatcher) AcceptNonMember(msg *channel.Message) bool {
	w.s.sawSender(msg.Source)
	return false
}

func (w senderWatcher) MessageReceived(*channel.Message) error { return nil }

// sawSender adds src unless a member has its address and port (Tomcat's
// DNSMembershipProvider.accept). A sender at this node's own address and port is never
// added, whatever id it claims: the member added carries the id derived from the address,
// which for IPv4 is the local id itself (Tomcat's memberAlive ignores a member equal to
// the local one). The member is listed (Members, Member, the channel's sender check) when
// sawSender returns; its event is queued in order with the service's other events and goes
// up on a goroutine of the service (or on that of a change delivering meanwhile: Start, a
// heartbeat, Stop), without sawSender waiting for it: the transport's
// receive of the message's connection never waits for a listener, and messages that
// follow from the sender may reach the message listeners before, or while, its
// MemberAdded runs (TestSenderEventLeavesTheReceivePath), as Tomcat hands it to its
// utility executor.
func (s *Service) sawSender(src channel.Member) {
	if len(src.Host) != 4 && len(src.Host) != 16 {
		return
	}
	m := channel.Member{Host: slices.Clone(src.Host), Port: src.Port, SecurePort: -1, UDPPort: -1,
		UniqueID: senderUniqueID(src.Host), AliveTime: -1}
	s.mu.Lock()
	if s.running&channel.SvcMembershipRx == 0 || s.known(src) || s.isLocalLocked(m) {
		s.mu.Unlock()
		return
	}
	s.mu.Unlock()
	s.evMu.Lock()
	s.mu.Lock()
	if s.running&channel.SvcMembershipRx == 0 || s.known(src) || s.isLocalLocked(m) || !s.touchLocked(m, time.Now()) {
		s.mu.Unlock()
		s.evMu.Unlock()
		return
	}
	s.rebuildLocked()
	l := s.l
	s.mu.Unlock()
	queued := s.queueSenderLocked(l, m)
	s.evMu.Unlock()
	s.log.Info("tribes cloud membership: a sender not listed became a member", "member", m.String())
	if queued {
		go s.runEvents()
	}
}

// runEvents runs the queued events on a goroutine of its own (sawSender's: not on the
// transport's receive path), until none is left or another goroutine runs them. A
// listener's panic, in the event of another change that this goroutine delivers, is
// logged (rate-limited) instead of ending the process, and the events after it still go
// up (a sender's event logs its own: queueSenderLocked).
func (s *Service) runEvents() {
	for !s.runEventsOnce() {
	}
}

// runEventsOnce runs the queue once; it reports false if a call panicked.
func (s *Service) runEventsOnce() (finished bool) {
	defer func() {
		if p := recover(); p != nil {
			s.logListenerPanic(p)
		}
	}()
	s.events.Run(nil)
	return true
}

func (s *Service) logListenerPanic(p any) {
	s.rl.Log(slog.LevelError, "listener", "listener panic", "tribes cloud membership: the membership listener panicked", "panic", p)
}

// isLocalLocked reports whether m is this node: its key, or its address and port.
func (s *Service) isLocalLocked(m channel.Member) bool {
	return m.Key() == s.local.Key() || (m.Port == s.local.Port && m.IP() == s.local.IP())
}

func (s *Service) known(src channel.Member) bool {
	_, ok := s.addrs[netip.AddrPortFrom(src.IP(), uint16(src.Port))]
	return ok
}

var _ interface {
	channel.MembershipService
	channel.ChannelUser
	channel.HealthReporter
} = (*Service)(nil)

var _ channel.NonMemberListener = senderWatcher{}
