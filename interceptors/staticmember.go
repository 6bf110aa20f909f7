package interceptors

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/wire"
)

// The two notices of StaticMembershipInterceptor, sent as plain messages.
var (
	staticMemberStart = []byte("Local StaticMember Notification Data") // 36 bytes
	staticMemberStop  = []byte("Local StaticMember Shutdown Data")     // 32 bytes
)

// StaticMemberStartPayload returns the 36-byte notice a node sends to its static members
// when it starts ("Local StaticMember Notification Data").
func StaticMemberStartPayload() []byte { return bytes.Clone(staticMemberStart) }

// StaticMemberStopPayload returns the 32-byte notice a node sends to its members when it
// stops ("Local StaticMember Shutdown Data").
func StaticMemberStopPayload() []byte { return bytes.Clone(staticMemberStop) }

// staticAnnounceWait bounds how long Start waits for a static member to be verified by
// the interceptors above (a TCP failure detector checks it) before sending it the start
// notice.
const staticAnnounceWait = 5 * time.Second

// StaticMembershipConfig configures a StaticMembership.
type StaticMembershipConfig struct {
	// Members are the static members (Tomcat's <Member> elements; default none).
	Members []channel.Member
	// Local, if set, is the member LocalMember returns instead of asking the layers below
	// (Tomcat's <LocalMember>).
	Local *channel.Member
	// Flag is the option bit of the notices sent (Tomcat optionFlag, default 0).
	Flag channel.SendOptions
	// Logger receives warnings (failed notices, a missing failure detector). Nil discards.
	Logger *slog.Logger
}

// StaticMembership adds configured members to the channel's members (Tribes'
// StaticMembershipInterceptor), on top of whatever the membership service finds.
//
// When the channel starts, each configured member is announced up the stack (a TCP
// failure detector above checks it first) and, once the top of the stack has it, sent
// the 36-byte start notice; when the sender stops, every member gets the 32-byte shutdown
// notice. A notice received from a member (a configured one, else one of the layer below)
// is consumed: a start makes it a member again (memberAdded), a shutdown removes it
// (memberDisappeared with the BABY-ALEX command) until its next start. The notices are
// recognised whatever their options. Place it below TCPFailureDetector and TCPPing, as in
// Tribes.
//
// Members returns the layer below's members, oldest first, then the configured members
// that did not announce a shutdown, in Tribes' absolute order (Tribes sorts the whole list
// in absolute order).
//
// A configured member without a unique id (zero) stands for whichever node runs at its
// host and port: the first notice from there gives it that node's identity. Tribes needs
// the exact id. If the placeholder went up as a member (announced when the channel
// started), its removal, with the BABY-ALEX command, goes up as well as the real member's
// addition (passed up in that order; a failure detector above, which checks each member on
// its own, may pass them on in either order), so that the node is not listed twice
// (TestStaticMembershipLearnedPlaceholderIsRemoved).
type StaticMembership struct {
	channel.InterceptorBase
	log *slog.Logger

	mu      sync.Mutex
	members []channel.Member
	byKey   map[channel.MemberKey]channel.Member // members by key: Member is one lookup
	down    map[channel.MemberKey]bool
	// upState of a placeholder (a member without a unique id) this run announced:
	// placeUp while its addition goes up, placeUpDone once it went up, placeRetire when it
	// was learned while its addition went up (announce then passes its removal up).
	upState  map[channel.MemberKey]placeState
	local    *channel.Member
	levels   channel.Service
	life     context.Context
	endLife  context.CancelFunc
	run      *runGroup // the announcing goroutines of this run
	stopping stoppingRuns
}

// NewStaticMembership returns the interceptor with the configured members. A member
// without a host or a port is refused with an error wrapping channel.ErrInvalidConfig, as
// node.Config.StaticMembers refuses it: a channel's LocalMember has them only once the
// channel started (TestStaticMembershipRefusesAMemberWithoutAddress).
func NewStaticMembership(cfg StaticMembershipConfig) (*StaticMembership, error) {
	for i, m := range cfg.Members {
		if m.Port <= 0 || len(m.Host) == 0 {
			return nil, fmt.Errorf("%w: staticmembership: member %d (%s) has no address: it needs Host and Port "+
				"(a channel's LocalMember has them only once the channel started: start it first)",
				channel.ErrInvalidConfig, i, m.String())
		}
	}
	s := &StaticMembership{log: cfg.Logger, byKey: map[channel.MemberKey]channel.Member{}, down: map[channel.MemberKey]bool{},
		upState: map[channel.MemberKey]placeState{}}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.Flag = cfg.Flag
	for _, m := range cfg.Members {
		s.AddStaticMember(m)
	}
	if cfg.Local != nil {
		s.SetLocalMember(*cfg.Local)
	}
	return s, nil
}

// AddStaticMember adds a member (if not there yet: same host, port and unique id). An
// IPv4 host in its 16-byte form is listed in its 4-byte form, the one the member's
// messages carry (TestStaticMembershipIPv4HostInEitherForm). As Tribes' addStaticMember,
// a member added while the channel runs is listed by Members at once, but announced to
// the membership listeners, and sent the start notice, only when the channel starts
// again (TestStaticMembershipAddWhileRunningIsAnnouncedAtTheNextStart).
func (s *StaticMembership) AddStaticMember(m channel.Member) {
	m = m.Unmapped()
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.byKey[m.Key()]; ok {
		return
	}
	c := m.Clone()
	s.members = append(s.members, c)
	s.byKey[c.Key()] = c
}

// RemoveStaticMember removes a member from the list; key may be that of the member as
// added, with an IPv4 host in either form.
func (s *StaticMembership) RemoveStaticMember(key channel.MemberKey) {
	key = key.Unmapped() // members are listed with 4-byte IPv4 hosts (AddStaticMember)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.members = slices.DeleteFunc(s.members, func(x channel.Member) bool { return x.Key() == key })
	delete(s.byKey, key)
	delete(s.down, key)
	delete(s.upState, key)
}

// SetLocalMember makes LocalMember return m (Tribes' setLocalMember) instead of asking the
// layers below.
func (s *StaticMembership) SetLocalMember(m channel.Member) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := m.Clone()
	s.local = &c
}

// StaticMembers returns the configured members that did not announce a shutdown.
func (s *StaticMembership) StaticMembers() []channel.Member {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]channel.Member, 0, len(s.members))
	for _, m := range s.members {
		if !s.down[m.Key()] {
			out = append(out, m)
		}
	}
	SortAbsolute(out)
	return out
}

func (s *StaticMembership) configured(k channel.MemberKey) (channel.Member, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.byKey[k]
	return m, ok
}

// placeState is how far a placeholder's announcement went up (StaticMembership.upState).
type placeState uint8

const (
	placeUp placeState = iota + 1
	placeUpDone
	placeRetire
)

// learn matches a notice's sender against a configured member without a unique id at the
// same host and port, and from then on uses the sender's identity for it. retired is the
// placeholder, with the BABY-ALEX command, when its addition went up and its removal is
// the caller's to pass up; when its addition is still going up, announce passes the
// removal up once it went.
func (s *StaticMembership) learn(src channel.Member) (learned channel.Member, retired *channel.Member, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, m := range s.members {
		if m.UniqueID == (channel.UniqueID{}) && m.Port == src.Port && bytes.Equal(m.Host, src.Host) {
			learned = src.Clone()
			learned.Command = nil
			s.members[i] = learned
			k := m.Key()
			delete(s.byKey, k)
			s.byKey[learned.Key()] = learned
			delete(s.down, k)
			switch s.upState[k] {
			case placeUpDone:
				delete(s.upState, k)
				gone := m.Clone()
				gone.Command = wire.ShutdownCommand
				retired = &gone
			case placeUp:
				s.upState[k] = placeRetire
			}
			return learned, retired, true
		}
	}
	return channel.Member{}, nil, false
}

// top is the uppermost layer of the stack: asking it is asking the whole stack.
func (s *StaticMembership) top() channel.Interceptor {
	above := chainAbove(s)
	if len(above) == 0 {
		return s
	}
	return above[len(above)-1]
}

// Start starts the transport levels below, announces the configured members, then starts
// the other levels below. If those fail to start, it stops again the transport levels it
// started (within ctx if still live, and 5 seconds in any case, a bound shared with the
// rest of the failed channel Start's undo: channel.FailedStartContext) before returning
// the error (TestStaticMembershipFailedStartStopsItsTransport,
// TestStaticMembershipFailedStartSharesTheUndoBound). The announcing goroutines
// of a run whose Stop returned before they ended (see Stop) are waited for first, within
// ctx, unless one is inside a membership listener call: if ctx ends first, Start returns
// an error wrapping ctx.Err() and starts nothing.
func (s *StaticMembership) Start(ctx context.Context, svc channel.Service) error {
	if err := s.stopping.await(ctx, "staticmembership: start"); err != nil {
		return err
	}
	s.mu.Lock()
	before := s.levels
	s.mu.Unlock()
	if t := svc & channel.SvcTransport; t != 0 {
		if err := s.Next().Start(ctx, t); err != nil {
			return err
		}
	}
	s.mu.Lock()
	first := s.levels == 0
	if first {
		s.life, s.endLife = context.WithCancel(context.Background())
		clear(s.down)
		clear(s.upState)
	}
	s.levels |= svc & channel.SvcTransport
	members := slices.Clone(s.members)
	life := s.life
	if first {
		g := newRunGroup()
		s.run = g
		for _, m := range members {
			g.Go(func() { s.announce(life, g, m) })
		}
	}
	s.mu.Unlock()
	if first {
		above := chainAbove(s)
		if fd, ping := has[memberChecker](above), has[pinger](above); !fd || !ping {
			s.log.Warn("static membership interceptor should sit below a tcpfailure and a ping interceptor",
				"tcpfailure", fd, "ping", ping)
		}
	}
	if rest := svc &^ channel.SvcTransport; rest != 0 {
		if err := s.Next().Start(ctx, rest); err != nil {
			if t := svc & channel.SvcTransport &^ before; t != 0 {
				err = errors.Join(err, s.undoStart(ctx, t))
			}
			return err
		}
	}
	s.mu.Lock()
	s.levels |= svc
	s.mu.Unlock()
	return nil
}

// undoStart stops the transport levels t a Start started before the other levels failed
// to start, with channel.FailedStartContext: within ctx if still live and 5 seconds in any
// case, a bound shared with the rest of the failed channel Start's undo.
func (s *StaticMembership) undoStart(ctx context.Context, t channel.Service) error {
	uctx, cancel := channel.FailedStartContext(ctx)
	defer cancel()
	if err := s.Stop(uctx, t); err != nil {
		return fmt.Errorf("staticmembership: start: stopping the transport levels it started: %w", err)
	}
	return nil
}

// announce passes m up as added (the call marked in g, whose goroutine it runs on) and,
// once the stack has it, sends it the start notice.
func (s *StaticMembership) announce(ctx context.Context, g *runGroup, m channel.Member) {
	k := m.Key()
	if !s.announceUp(g, m) {
		return // a placeholder learned before it went up: MessageReceived announced the node
	}
	t := time.NewTimer(staticAnnounceWait)
	defer t.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if _, ok := s.top().Member(k); ok {
			break
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			return
		case <-tick.C:
		}
	}
	if err := s.notify(ctx, []channel.Member{m}, staticMemberStart); err != nil {
		s.log.Warn("static membership: start notice failed", "member", m.String(), "err", err)
	}
}

// announceUp passes m up as added, unless it is a placeholder learned already (it reports
// false then). A placeholder learned while its addition went up is removed (BABY-ALEX)
// once it went up.
func (s *StaticMembership) announceUp(g *runGroup, m channel.Member) bool {
	k := m.Key()
	place := m.UniqueID == (channel.UniqueID{})
	if place {
		s.mu.Lock()
		if _, still := s.byKey[k]; !still {
			s.mu.Unlock()
			return false
		}
		s.upState[k] = placeUp
		s.mu.Unlock()
	}
	g.callUp(func() { s.Prev().MemberAdded(m) })
	if !place {
		return true
	}
	s.mu.Lock()
	retire := s.upState[k] == placeRetire
	if retire {
		delete(s.upState, k)
	} else if s.upState[k] == placeUp {
		s.upState[k] = placeUpDone
	}
	s.mu.Unlock()
	if retire {
		gone := m.Clone()
		gone.Command = wire.ShutdownCommand
		g.callUp(func() { s.Prev().MemberDisappeared(gone) })
		return false
	}
	return true
}

func (s *StaticMembership) notify(ctx context.Context, to []channel.Member, data []byte) error {
	if len(to) == 0 {
		return nil
	}
	local := s.LocalMember(false)
	msg := &channel.Message{Options: s.Flag, Timestamp: time.Now().UnixMilli(), ID: channel.NewMessageID(),
		Source: local, SourceBytes: wire.AppendMember(nil, &local), Data: bytes.Clone(data)}
	return s.Next().SendMessage(ctx, to, msg)
}

// Stop sends the shutdown notice to every member when the sender level stops, then stops
// the layers below. Once no level is left it waits for the goroutines announcing the
// members (a membership listener they call, a start notice the layers below hold) until
// ctx ends: it then returns an error wrapping ctx.Err() (joined with the layers below's,
// which it stops all the same), and they end in the background; a later Stop waits for
// them again within its own ctx, and so does a Start before it starts anything
// (TestStaticMembershipStopHonoursItsContext). Neither waits for them while one is inside
// a membership listener call when they begin, as the channel's Stop does not wait for a
// heartbeat under way: the caller may be that listener (stopping the channel when a
// static member is announced), which cannot return before the Stop does
// (TestStaticMembershipStopFromAnnounce). The trade-off: a Stop made elsewhere while such
// a call is held returns without waiting for them; they end once it returned, and a
// later Stop waits for them (TestStaticMembershipStopDoesNotWaitForAHeldListener).
func (s *StaticMembership) Stop(ctx context.Context, svc channel.Service) error {
	s.mu.Lock()
	sending := svc&s.levels&channel.SvcSender != 0
	s.levels &^= svc
	var end context.CancelFunc
	var run *runGroup
	if s.levels == 0 {
		end, s.endLife = s.endLife, nil
		run, s.run = s.run, nil
	}
	s.mu.Unlock()
	if sending {
		nctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		if err := s.notify(nctx, s.top().Members(), staticMemberStop); err != nil {
			s.log.Warn("static membership: shutdown notice failed", "err", err)
		}
		cancel()
	}
	if end != nil {
		end()
	}
	err := s.stopping.stop(ctx, "staticmembership", run)
	return errors.Join(err, s.Next().Stop(ctx, svc))
}

// MessageReceived consumes start and shutdown notices and passes everything else up.
func (s *StaticMembership) MessageReceived(msg *channel.Message) error {
	start := bytes.Equal(msg.Data, staticMemberStart)
	if !start && !bytes.Equal(msg.Data, staticMemberStop) {
		return s.Prev().MessageReceived(msg)
	}
	k := msg.Source.Key()
	m, ok := s.configured(k)
	if !ok {
		m, ok = s.Next().Member(k)
	}
	learned := false // a new identity: its addition goes up whoever lists it already
	if !ok {
		var retired *channel.Member
		if m, retired, learned = s.learn(msg.Source); !learned {
			return nil
		}
		if retired != nil {
			s.Prev().MemberDisappeared(*retired)
		}
	}
	if start {
		s.mu.Lock()
		wasDown := s.down[k]
		delete(s.down, k)
		s.mu.Unlock()
		if _, known := s.top().Member(k); wasDown || learned || !known {
			s.Prev().MemberAdded(m)
		}
		return nil
	}
	s.mu.Lock()
	s.down[k] = true
	s.mu.Unlock()
	gone := m.Clone()
	gone.Command = wire.ShutdownCommand
	s.Prev().MemberDisappeared(gone)
	return nil
}

// Members returns the layer below's members, then the static ones not shut down that it
// lacks, in absolute order. When it lacks none (the usual case once the static members
// announced themselves) it returns the layer below's slice itself, so the send path does
// not allocate.
func (s *StaticMembership) Members() []channel.Member {
	below := s.Next().Members()
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []channel.Member
	for _, m := range s.members {
		k := m.Key()
		if s.down[k] || slices.ContainsFunc(below, func(b channel.Member) bool { return b.Key() == k }) {
			continue
		}
		if out == nil {
			out = slices.Clone(below)
		}
		out = append(out, m)
	}
	if out == nil {
		return below
	}
	SortAbsolute(out[len(below):])
	return out
}

// Member looks up a static member (not shut down), else asks the layer below. key may
// have an IPv4 host in either form.
func (s *StaticMembership) Member(key channel.MemberKey) (channel.Member, bool) {
	key = key.Unmapped()
	if m, ok := s.configured(key); ok {
		s.mu.Lock()
		down := s.down[key]
		s.mu.Unlock()
		if !down {
			return m, true
		}
	}
	return s.Next().Member(key)
}

// LocalMember returns the member set by SetLocalMember, else asks the layer below.
func (s *StaticMembership) LocalMember(incAlive bool) channel.Member {
	s.mu.Lock()
	l := s.local
	s.mu.Unlock()
	if l != nil {
		return *l
	}
	return s.Next().LocalMember(incAlive)
}

func init() {
	f := func(p *Props) (channel.Interceptor, error) {
		ms, err := wire.ParseMemberList(p.String("members", ""))
		if err != nil {
			return nil, err
		}
		cfg := StaticMembershipConfig{Members: ms, Flag: channel.SendOptions(p.Int("optionFlag", 0)), Logger: p.Logger()}
		if l := p.String("local", ""); l != "" {
			lm, err := wire.ParseMemberText(l)
			if err != nil {
				return nil, err
			}
			cfg.Local = &lm
		}
		return NewStaticMembership(cfg)
	}
	Register("staticmember", f)
	Register("static", f)
}
