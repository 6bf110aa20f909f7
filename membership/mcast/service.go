package mcast

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/ctxwait"
	"github.com/gotribes/tribes/internal/ratelog"
)

// msgQueueLen and msgQueueBytes bound the broadcast messages waiting to be handed up the
// channel, in number and in bytes (message, id and source, plus msgOverhead each): beyond
// either, messages are dropped (and counted), as a full socket buffer would drop them.
// 1024 messages of up to 64 KB would otherwise hold 64 MiB.
const (
	msgQueueLen   = 1024
	msgQueueBytes = 4 << 20
	msgOverhead   = 256
)

// msgQueue is a run's queue of broadcast messages for the channel.
type msgQueue struct {
	ch    chan *channel.Message
	bytes atomic.Int64 // what the queued messages hold
}

func msgCost(m *channel.Message) int64 {
	return int64(len(m.Data) + len(m.ID) + len(m.SourceBytes) + msgOverhead)
}

// errorPause is how long a loop waits after a socket error (Tomcat: 500 ms).
const errorPause = 500 * time.Millisecond

// Stats are a Service's counters since it was created.
type Stats struct {
	HeartbeatsSent     uint64 // member datagrams sent, shutdown packets included
	HeartbeatsReceived uint64 // member datagrams received from others
	BroadcastsSent     uint64 // broadcast (OptMulticast) datagrams sent
	MessagesReceived   uint64 // broadcast messages handed up the channel
	MessagesDropped    uint64 // broadcast messages dropped: queue full (1024 messages or 4 MiB) or no receiver
	BadPackets         uint64 // datagrams that were neither a member nor valid frames
	MembersAdded       uint64
	MembersExpired     uint64 // removed because silent for DropTime
	MembersShutdown    uint64 // removed because of a BABY-ALEX shutdown packet
	SocketErrors       uint64
	Recoveries         uint64 // sockets re-created after RecoveryCounter errors
	Stalls             uint64 // times the stall guard forgave members for a local pause
	// OversizedHeartbeats counts member datagrams ignored because a field was over its
	// limit (Config.MaxPayloadSize, MaxDomainSize, MaxCommandSize, MaxHostSize).
	OversizedHeartbeats uint64
	// MembersOverLimit counts heartbeats of new members ignored because Config.MaxMembers
	// were already kept.
	MembersOverLimit uint64
}

type counters struct {
	hbSent, hbRecv, bcSent, msgRecv, msgDrop, bad   atomic.Uint64
	added, expired, shutdown, sockErr, recov, stall atomic.Uint64
	oversized, overLimit                            atomic.Uint64
}

// Service is a multicast membership (Tribes' McastService): a channel.MembershipService
// that announces the local member to a multicast group every Frequency and keeps the list
// of members it hears, a channel.Broadcaster for OptMulticast messages and a
// channel.LocalMemberUpdater.
//
// All methods are safe for concurrent use.
type Service struct {
	cfg  settings
	log  *slog.Logger
	rl   *ratelog.Limiter // errors caused by what peers send
	open opener
	st   counters

	rxFunc atomic.Pointer[channel.ReceiveFunc] // set by SetReceiveFunc

	mu         sync.Mutex
	running    channel.Service
	conn       packetConn
	connGen    uint64
	local      channel.Member
	localKey   channel.MemberKey
	startAt    time.Time
	listener   channel.MembershipListener
	tbl        *table
	errCount   [2]int // consecutive socket errors of the receiver and of the sender
	recovering bool
	lastAlive  int64           // alive time of the last heartbeat sent
	life       context.Context // cancelled when the last level stops
	endLife    context.CancelFunc
	rxStop     context.CancelFunc
	rxDone     chan struct{}
	txStop     context.CancelFunc
	txDone     chan struct{}
	// bg is this run's dispatcher, message pump and recovery: a WaitGroup per run, so
	// that a Stop waits for its own run, never for one started meanwhile.
	bg        *sync.WaitGroup
	events    *eventQueue // this run's; it delivers nothing before the previous run's is done
	msgs      *msgQueue
	kick      chan struct{} // asks the sender for a heartbeat now
	addSignal chan struct{} // a member was added (for JoinWait)
	// stopping are the stops whose ctx ended before what they stopped did (a loop, the
	// dispatcher still calling the listener, the message pump): a later Stop waits for
	// them, and so does a Start before it takes any level.
	stopping []*stopState
}

// stopState is a Stop that returned before what it stopped had ended.
type stopState struct {
	done chan struct{} // closed once every goroutine the Stop waited for has ended
}

// New validates cfg and returns a stopped Service. The interface (Bind / Interface) must
// exist; the socket is opened by Start.
func New(cfg Config) (*Service, error) {
	s, err := cfg.normalize()
	if err != nil {
		return nil, err
	}
	if err := s.resolveInterface(); err != nil {
		return nil, err
	}
	return newService(s, openUDP), nil
}

func newService(s settings, open opener) *Service {
	return &Service{cfg: s, log: s.Logger, rl: ratelog.New(ratelog.Config{Logger: s.Logger}), open: open,
		tbl: newTable(s.DropTime, !s.NoStallGuard, s.MaxMembers, s.Frequency)}
}

// Config returns the configuration with every default filled in.
func (s *Service) Config() Config { return s.cfg.Config }

// SetReceiveFunc implements channel.MessageReceiver: broadcast messages received from the
// group go to rx (the channel's receive path; the channel sets it before Start). Without
// one they are dropped and counted.
func (s *Service) SetReceiveFunc(rx channel.ReceiveFunc) {
	if rx == nil {
		s.rxFunc.Store(nil)
		return
	}
	s.rxFunc.Store(&rx)
}

// Start implements channel.MembershipService: SvcMembershipRx joins the group and starts
// listening, SvcMembershipTx sends the first heartbeat at once and then one every
// Frequency. Starting Tx waits up to JoinWait for the group to answer. Levels already
// running are left alone.
func (s *Service) Start(ctx context.Context, svc channel.Service, local channel.Member, l channel.MembershipListener) error {
	if f := s.cfg.oversized(&local); f != "" {
		return invalid("the local member's %s is over its limit (Config.Max...Size)", f)
	}
	s.mu.Lock()
	want := svc & channel.SvcMembership &^ s.running
	// A stop whose ctx ended before its goroutines did finishes first, before any level
	// is taken: a Start that gives up has started nothing.
	for want != 0 {
		f := s.stoppingLocked()
		if f == nil {
			break
		}
		s.mu.Unlock()
		if !ctxwait.Done(ctx, f.done) {
			return fmt.Errorf("mcast: start: the previous stop has not finished: %w", ctx.Err())
		}
		s.mu.Lock()
		want = svc & channel.SvcMembership &^ s.running
	}
	if want == 0 {
		s.mu.Unlock()
		return nil
	}
	s.local, s.localKey, s.listener = local.Clone(), local.Key(), l
	s.local.Command = nil
	s.tbl.setLocal(s.localKey)
	fresh := s.running == 0
	if fresh {
		conn, err := s.open(&s.cfg)
		if err != nil {
			s.mu.Unlock()
			return err
		}
		s.startAt = time.Now()
		s.life, s.endLife = context.WithCancel(context.Background())
		s.events = newEventQueue(s.events)
		s.bg = new(sync.WaitGroup)
		s.msgs = &msgQueue{ch: make(chan *channel.Message, msgQueueLen)}
		s.kick = make(chan struct{}, 1)
		s.addSignal = make(chan struct{}, 1)
		s.errCount, s.recovering, s.lastAlive = [2]int{}, false, -1
		s.conn = conn
		s.connGen++
		life, events, msgs := s.life, s.events, s.msgs
		s.bg.Go(func() { events.run(life) })
		s.bg.Go(func() { s.pumpMessages(life, msgs) })
	}
	s.events.setListener(l)
	if want&channel.SvcMembershipRx != 0 {
		if ic, ok := s.conn.(interruptible); ok {
			ic.Resume() // the socket of a receiver stopped earlier, kept by the sender
		}
		ctx, cancel := context.WithCancel(s.life)
		s.rxStop, s.rxDone = cancel, make(chan struct{})
		done := s.rxDone
		go func() { defer close(done); s.receiveLoop(ctx) }()
	}
	if want&channel.SvcMembershipTx != 0 {
		s.sendHeartbeatLocked(false)
		ctx, cancel := context.WithCancel(s.life)
		s.txStop, s.txDone = cancel, make(chan struct{})
		done := s.txDone
		go func() { defer close(done); s.sendLoop(ctx) }()
	}
	s.running |= want
	addSignal := s.addSignal
	ifName, source := s.ifName(), s.cfg.source.String()
	s.mu.Unlock()
	s.log.Info("mcast membership started", "levels", want.String(), "group", s.cfg.group.String(),
		"interface", ifName, "source", source, "member", local.String())
	if want&channel.SvcMembershipTx != 0 && s.cfg.JoinWait > 0 {
		s.awaitJoin(ctx, addSignal)
	}
	return nil
}

func (s *Service) ifName() string {
	if s.cfg.ifi == nil {
		return ""
	}
	return s.cfg.ifi.Name
}

// awaitJoin waits until members answered and none arrived for Frequency/5, or JoinWait.
func (s *Service) awaitJoin(ctx context.Context, added <-chan struct{}) {
	deadline := time.NewTimer(s.cfg.JoinWait)
	defer deadline.Stop()
	quiet := s.cfg.Frequency / 5
	settle := time.NewTimer(quiet)
	defer settle.Stop()
	seen := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-deadline.C:
			return
		case <-added:
			seen = true
			settle.Reset(quiet)
		case <-settle.C:
			s.mu.Lock()
			n := s.tbl.len()
			s.mu.Unlock()
			if seen || n > 0 {
				return
			}
			settle.Reset(quiet)
		}
	}
}

// Stop implements channel.MembershipService. Stopping Tx sends the BABY-ALEX shutdown
// packet, so that the others drop this node at once; stopping Rx reports every member as
// gone. When no level is left the socket is closed. Stop returns once no more events or
// messages will be delivered, or when ctx ends: it then returns an error wrapping
// ctx.Err(), and what it stopped (a listener call under way, the message pump handing a
// message up, a loop) ends in the background. A later Stop, after stopping the levels it
// was asked to, waits for that again within its own ctx (an error wrapping ctx.Err()
// again when ctx ends first, nil once it ended), and so does a Start before it takes any
// level, so that one that gives up has started nothing (TestStopAgainWaitsForATimedOutStop,
// TestStartAfterATimedOutStopWaitsForIt).
func (s *Service) Stop(ctx context.Context, svc channel.Service) error {
	s.mu.Lock()
	stop := svc & s.running
	if stop == 0 {
		s.mu.Unlock()
		return s.awaitStopping(ctx)
	}
	txDone, rxDone := s.txDone, s.rxDone
	var waits []<-chan struct{} // what this Stop waits for
	if stop&channel.SvcMembershipTx != 0 {
		s.txStop()
		waits = append(waits, txDone)
	}
	if stop&channel.SvcMembershipRx != 0 {
		s.rxStop()
		if ic, ok := s.conn.(interruptible); ok {
			ic.Interrupt()
		}
		waits = append(waits, rxDone)
	}
	s.mu.Unlock()
	var err error
	wait := func(done chan struct{}) {
		if err == nil && !ctxwait.Done(ctx, done) {
			err = fmt.Errorf("mcast: stop: %w", ctx.Err())
		}
	}
	if stop&channel.SvcMembershipTx != 0 {
		wait(txDone)
		s.mu.Lock()
		s.sendHeartbeatLocked(true)
		s.mu.Unlock()
	}
	if stop&channel.SvcMembershipRx != 0 {
		wait(rxDone)
	}

	s.mu.Lock()
	if stop&channel.SvcMembershipRx != 0 {
		for _, m := range s.tbl.clear() {
			s.events.push(event{m: m})
		}
	}
	s.running &^= stop
	last := s.running == 0
	var conn packetConn
	var events *eventQueue
	var bg *sync.WaitGroup
	if last {
		conn, s.conn = s.conn, nil
		s.connGen++
		events, bg = s.events, s.bg
		s.endLife()
	}
	s.mu.Unlock()
	s.log.Info("mcast membership stopped", "levels", stop.String())
	if last {
		if conn != nil {
			_ = conn.Close()
		}
		s.rl.Flush()
		events.close()
		bgDone := make(chan struct{})
		go func() { bg.Wait(); close(bgDone) }()
		waits = append(waits, bgDone)
		if err == nil && !ctxwait.Done(ctx, bgDone) {
			err = fmt.Errorf("mcast: stop: waiting for listeners: %w", ctx.Err())
		}
	}
	if err != nil {
		s.leaveStopping(waits)
		return err
	}
	return s.awaitStopping(ctx)
}

// leaveStopping records a Stop that returned before waits were all closed, until they are.
func (s *Service) leaveStopping(waits []<-chan struct{}) {
	f := &stopState{done: make(chan struct{})}
	s.mu.Lock()
	s.stopping = append(s.stopping, f)
	s.mu.Unlock()
	go func() {
		for _, w := range waits {
			<-w
		}
		close(f.done)
		s.mu.Lock()
		s.stoppingLocked() // drops f
		s.mu.Unlock()
	}()
}

// stoppingLocked drops the stops that finished and returns one that has not, or nil.
func (s *Service) stoppingLocked() *stopState {
	s.stopping = slices.DeleteFunc(s.stopping, func(f *stopState) bool {
		select {
		case <-f.done:
			return true
		default:
			return false
		}
	})
	if len(s.stopping) == 0 {
		s.stopping = nil
		return nil
	}
	return s.stopping[0]
}

// awaitStopping waits for the stops an earlier Stop left running, or for ctx to end.
func (s *Service) awaitStopping(ctx context.Context) error {
	for {
		s.mu.Lock()
		f := s.stoppingLocked()
		s.mu.Unlock()
		if f == nil {
			return nil
		}
		if !ctxwait.Done(ctx, f.done) {
			return fmt.Errorf("mcast: stop: an earlier stop has not finished: %w", ctx.Err())
		}
	}
}

// Members implements channel.MembershipService: the members heard from, oldest first,
// with their alive time as of now, in a new slice the caller may modify. The order is
// kept between calls and sorted again only after the membership changed (a member
// added or removed, or its start estimate moved); the alive times are computed at each
// call, so the slice itself is not shared.
func (s *Service) Members() []channel.Member {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tbl.members(time.Now())
}

// Member implements channel.MembershipService.
func (s *Service) Member(key channel.MemberKey) (channel.Member, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tbl.member(time.Now(), key)
}

// Heartbeat implements channel.MembershipService. Expiry runs on the receive loop at the
// moment it is due; the channel's heartbeat only double-checks it.
func (s *Service) Heartbeat() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.running&channel.SvcMembershipRx != 0 {
		s.expireLocked(time.Now())
	}
}

// UpdateLocalMember implements channel.LocalMemberUpdater: the next heartbeat (sent at
// once unless NoFastJoin) carries m's domain and payload.
func (s *Service) UpdateLocalMember(m channel.Member) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f := s.cfg.oversized(&m); f != "" {
		s.log.Error("mcast: local member not updated: its "+f+" is over the limit other nodes accept", "member", m.String())
		return
	}
	s.local = m.Clone()
	s.local.Command = nil
	s.localKey = m.Key()
	s.tbl.setLocal(s.localKey)
	s.kickLocked()
}

// Stats returns a snapshot of the counters.
func (s *Service) Stats() Stats {
	c := &s.st
	return Stats{
		HeartbeatsSent: c.hbSent.Load(), HeartbeatsReceived: c.hbRecv.Load(), BroadcastsSent: c.bcSent.Load(),
		MessagesReceived: c.msgRecv.Load(), MessagesDropped: c.msgDrop.Load(), BadPackets: c.bad.Load(),
		MembersAdded: c.added.Load(), MembersExpired: c.expired.Load(), MembersShutdown: c.shutdown.Load(),
		SocketErrors: c.sockErr.Load(), Recoveries: c.recov.Load(), Stalls: c.stall.Load(),
		OversizedHeartbeats: c.oversized.Load(), MembersOverLimit: c.overLimit.Load(),
	}
}

func (s *Service) localMember() channel.Member {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.local
}
