package mcast

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/wire"
)

// msgQueueLen bounds the broadcast messages waiting to be handed up the channel; beyond it
// datagrams are dropped (and counted), as a full socket buffer would drop them.
const msgQueueLen = 1024

// errorPause is how long a loop waits after a socket error (Tomcat: 500 ms).
const errorPause = 500 * time.Millisecond

// Stats are a Service's counters since it was created.
type Stats struct {
	HeartbeatsSent     uint64 // member datagrams sent, shutdown packets included
	HeartbeatsReceived uint64 // member datagrams received from others
	BroadcastsSent     uint64 // broadcast (OptMulticast) datagrams sent
	MessagesReceived   uint64 // broadcast messages handed up the channel
	MessagesDropped    uint64 // broadcast messages dropped: queue full or no receiver
	BadPackets         uint64 // datagrams that were neither a member nor valid frames
	MembersAdded       uint64
	MembersExpired     uint64 // removed because silent for DropTime
	MembersShutdown    uint64 // removed because of a BABY-ALEX shutdown packet
	SocketErrors       uint64
	Recoveries         uint64 // sockets re-created after RecoveryCounter errors
	Stalls             uint64 // times the stall guard forgave members for a local pause
}

type counters struct {
	hbSent, hbRecv, bcSent, msgRecv, msgDrop, bad   atomic.Uint64
	added, expired, shutdown, sockErr, recov, stall atomic.Uint64
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
	rxFallback channel.ReceiveFunc // the listener's MessageReceived, if it has one
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
	bg         sync.WaitGroup // dispatcher, message pump, recovery
	events     *eventQueue
	msgs       chan *channel.Message
	kick       chan struct{} // asks the sender for a heartbeat now
	addSignal  chan struct{} // a member was added (for JoinWait)
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
	return &Service{cfg: s, log: s.Logger, open: open, tbl: newTable(s.DropTime, !s.NoStallGuard)}
}

// Config returns the configuration with every default filled in.
func (s *Service) Config() Config { return s.cfg.Config }

// SetReceiveFunc sets where broadcast messages received from the group go: the channel's
// receive path. Until package channel hands it over itself, Start uses the listener it is
// given if that listener also has a MessageReceived(*channel.Message) error method (the
// channel's coordinator has). Call it before Start.
func (s *Service) SetReceiveFunc(rx channel.ReceiveFunc) {
	if rx == nil {
		s.rxFunc.Store(nil)
		return
	}
	s.rxFunc.Store(&rx)
}

type messageReceiver interface {
	MessageReceived(msg *channel.Message) error
}

// Start implements channel.MembershipService: SvcMembershipRx joins the group and starts
// listening, SvcMembershipTx sends the first heartbeat at once and then one every
// Frequency. Starting Tx waits up to JoinWait for the group to answer. Levels already
// running are left alone.
func (s *Service) Start(ctx context.Context, svc channel.Service, local channel.Member, l channel.MembershipListener) error {
	s.mu.Lock()
	want := svc & channel.SvcMembership &^ s.running
	if want == 0 {
		s.mu.Unlock()
		return nil
	}
	s.local, s.localKey, s.listener = local.Clone(), local.Key(), l
	s.local.Command = nil
	s.rxFallback = nil
	if mr, ok := l.(messageReceiver); ok {
		s.rxFallback = mr.MessageReceived
	}
	s.tbl.setLocal(s.localKey)
	fresh := s.running == 0
	if fresh {
		s.startAt = time.Now()
		s.life, s.endLife = context.WithCancel(context.Background())
		s.events = newEventQueue()
		s.msgs = make(chan *channel.Message, msgQueueLen)
		s.kick = make(chan struct{}, 1)
		s.addSignal = make(chan struct{}, 1)
		s.errCount, s.recovering, s.lastAlive = [2]int{}, false, -1
		conn, err := s.open(&s.cfg)
		if err != nil {
			s.endLife()
			s.mu.Unlock()
			return err
		}
		s.conn = conn
		s.connGen++
		life, events, msgs := s.life, s.events, s.msgs
		s.bg.Go(func() { events.run(life) })
		s.bg.Go(func() { s.pumpMessages(life, msgs) })
	}
	s.events.setListener(l)
	if want&channel.SvcMembershipRx != 0 {
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
	s.mu.Unlock()
	s.log.Info("mcast membership started", "levels", want.String(), "group", s.cfg.group.String(),
		"interface", s.ifName(), "source", s.cfg.source.String(), "member", local.String())
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
// messages will be delivered, or when ctx ends.
func (s *Service) Stop(ctx context.Context, svc channel.Service) error {
	s.mu.Lock()
	stop := svc & s.running
	if stop == 0 {
		s.mu.Unlock()
		return nil
	}
	txDone, rxDone := s.txDone, s.rxDone
	if stop&channel.SvcMembershipTx != 0 {
		s.txStop()
	}
	if stop&channel.SvcMembershipRx != 0 {
		s.rxStop()
		if ic, ok := s.conn.(interruptible); ok {
			ic.Interrupt()
		}
	}
	s.mu.Unlock()
	var err error
	wait := func(done chan struct{}) {
		select {
		case <-done:
		case <-ctx.Done():
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
	if last {
		conn, s.conn = s.conn, nil
		s.connGen++
		events = s.events
		s.endLife()
	}
	s.mu.Unlock()
	s.log.Info("mcast membership stopped", "levels", stop.String())
	if !last {
		return err
	}
	if conn != nil {
		_ = conn.Close()
	}
	events.close()
	done := make(chan struct{})
	go func() { s.bg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		err = errors.Join(err, fmt.Errorf("mcast: stop: waiting for listeners: %w", ctx.Err()))
	}
	return err
}

// Members implements channel.MembershipService: the members heard from, oldest first,
// with their alive time as of now.
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
	s.local = m.Clone()
	s.local.Command = nil
	s.localKey = m.Key()
	s.tbl.setLocal(s.localKey)
	s.kickLocked()
}

// Broadcast implements channel.Broadcaster: msg goes to the group as one datagram holding
// one frame, without acknowledgement. A frame larger than one IPv4 datagram can carry
// (65507 bytes) is refused with channel.ErrMessageTooLarge.
func (s *Service) Broadcast(ctx context.Context, msg *channel.Message) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	src := msg.SourceBytes
	if src == nil {
		m := msg.Source
		if m.UniqueID == (channel.UniqueID{}) {
			m = s.localMember()
		}
		src = wire.AppendMember(nil, &m)
	}
	id := msg.ID
	if id == nil {
		id = channel.NewMessageID()
	}
	n := wire.FrameLen(wire.ChannelDataLen(len(id), len(src), len(msg.Data)))
	if n > maxDatagram {
		return fmt.Errorf("%w: multicast frame of %d bytes, at most %d fit a datagram", channel.ErrMessageTooLarge, n, maxDatagram)
	}
	b := wire.AppendChannelDataFrame(make([]byte, 0, n), uint32(msg.Options), msg.Timestamp, id, src, msg.Data)
	s.mu.Lock()
	conn, gen := s.conn, s.connGen
	tx := s.running&channel.SvcMembershipTx != 0
	s.mu.Unlock()
	if conn == nil || !tx {
		return fmt.Errorf("%w: multicast needs the membership-tx level", channel.ErrNotStarted)
	}
	if err := conn.WritePacket(b); err != nil {
		s.socketError(gen, txErr, "broadcast", err)
		return fmt.Errorf("mcast: broadcast: %w", err)
	}
	s.st.bcSent.Add(1)
	return nil
}

// maxDatagram is the largest UDP payload over IPv4 (65535 - 20 - 8).
const maxDatagram = 65507

// Stats returns a snapshot of the counters.
func (s *Service) Stats() Stats {
	c := &s.st
	return Stats{
		HeartbeatsSent: c.hbSent.Load(), HeartbeatsReceived: c.hbRecv.Load(), BroadcastsSent: c.bcSent.Load(),
		MessagesReceived: c.msgRecv.Load(), MessagesDropped: c.msgDrop.Load(), BadPackets: c.bad.Load(),
		MembersAdded: c.added.Load(), MembersExpired: c.expired.Load(), MembersShutdown: c.shutdown.Load(),
		SocketErrors: c.sockErr.Load(), Recoveries: c.recov.Load(), Stalls: c.stall.Load(),
	}
}

func (s *Service) localMember() channel.Member {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.local
}

// ---------------------------------------------------------------- sending

func (s *Service) sendLoop(ctx context.Context) {
	t := time.NewTicker(s.cfg.Frequency)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.kick:
		}
		s.mu.Lock()
		if ctx.Err() == nil {
			s.sendHeartbeatLocked(false)
		}
		s.mu.Unlock()
	}
}

// sendHeartbeatLocked sends the local member (with BABY-ALEX when shutdown) to the group.
func (s *Service) sendHeartbeatLocked(shutdown bool) {
	if s.conn == nil {
		return
	}
	m := s.local
	// Strictly increasing, even for two heartbeats in one millisecond: receivers take a
	// new payload only from a heartbeat with a new alive time.
	m.AliveTime = max(time.Since(s.startAt).Milliseconds(), s.lastAlive+1)
	s.lastAlive = m.AliveTime
	if shutdown {
		m.Command = wire.ShutdownCommand
	}
	b := wire.AppendMember(make([]byte, 0, m.EncodedLen()), &m)
	if err := s.conn.WritePacket(b); err != nil {
		s.socketErrorLocked(s.connGen, txErr, "send heartbeat", err)
		return
	}
	s.errCount[txErr] = 0
	s.st.hbSent.Add(1)
}

func (s *Service) kickLocked() {
	if s.cfg.NoFastJoin || s.kick == nil {
		return
	}
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// ---------------------------------------------------------------- receiving

func (s *Service) receiveLoop(ctx context.Context) {
	buf := make([]byte, MaxPacketSize)
	var cache wire.MemberCache
	for ctx.Err() == nil {
		s.mu.Lock()
		conn, gen := s.conn, s.connGen
		now := time.Now()
		deadline := now.Add(s.cfg.SoTimeout)
		if next := s.tbl.nextExpiry(); !next.IsZero() && next.Before(deadline) {
			deadline = next
		}
		// Check expiry often enough that only a real pause trips the stall guard.
		if g := s.tbl.stallGuard / 2; g > 0 && now.Add(g).Before(deadline) {
			deadline = now.Add(g)
		}
		s.mu.Unlock()
		if conn == nil {
			return
		}
		n, err := conn.ReadPacket(buf, deadline)
		now = time.Now()
		switch {
		case err == nil:
			s.mu.Lock()
			if gen == s.connGen {
				s.errCount[rxErr] = 0
			}
			s.mu.Unlock()
			s.handle(now, buf[:n], &cache)
		case errors.Is(err, os.ErrDeadlineExceeded):
		case ctx.Err() != nil:
			return
		default:
			if s.socketError(gen, rxErr, "receive", err) {
				select {
				case <-ctx.Done():
					return
				case <-time.After(errorPause):
				}
			}
		}
		s.mu.Lock()
		if ctx.Err() == nil {
			s.expireLocked(now)
		}
		s.mu.Unlock()
	}
}

func (s *Service) expireLocked(now time.Time) {
	stalls := s.tbl.stalls
	for _, m := range s.tbl.expire(now) {
		s.st.expired.Add(1)
		s.log.Debug("mcast member expired", "member", m.String(), "dropTime", s.cfg.DropTime)
		s.events.push(event{m: m})
	}
	if s.tbl.stalls != stalls {
		s.st.stall.Add(1)
		s.log.Warn("mcast receive loop was held up; members' silence during the pause is not held against them")
	}
}

// handle processes one datagram from the group.
func (s *Service) handle(now time.Time, b []byte, cache *wire.MemberCache) {
	if wire.IsMemberPacket(b) {
		m, n, err := wire.ParseMember(b)
		if err != nil || n != len(b) {
			s.st.bad.Add(1)
			return
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if m.Key() == s.localKey {
			return
		}
		s.st.hbRecv.Add(1)
		ch, who := s.tbl.heartbeat(now, m)
		switch ch {
		case added:
			s.st.added.Add(1)
			s.log.Debug("mcast member added", "member", who.String())
			s.events.push(event{m: who, added: true})
			select {
			case s.addSignal <- struct{}{}:
			default:
			}
			// Answer a newcomer at once instead of within Frequency.
			if s.running&channel.SvcMembershipTx != 0 {
				s.kickLocked()
			}
		case removed:
			s.st.shutdown.Add(1)
			s.log.Debug("mcast member shut down", "member", who.String())
			s.events.push(event{m: who})
		}
		return
	}
	// Otherwise: frames (a broadcast message), as Tribes parses them in discard mode.
	for len(b) > 0 {
		body, n, err := wire.ParseFrame(b, MaxPacketSize)
		if err != nil || n == 0 {
			s.st.bad.Add(1)
			return
		}
		b = b[n:]
		cd, err := wire.ParseChannelData(body, cache)
		if err != nil {
			s.st.bad.Add(1)
			continue
		}
		k := cd.Address.Key()
		s.mu.Lock()
		own := k == s.localKey
		if !own {
			s.tbl.touch(now, k)
		}
		msgs := s.msgs
		s.mu.Unlock()
		if own {
			continue
		}
		msg := channel.MessageFromChannelData(&cd)
		select {
		case msgs <- msg:
		default:
			s.st.msgDrop.Add(1)
		}
	}
}

// pumpMessages hands broadcast messages up the channel, in arrival order, off the receive
// loop so that a slow listener cannot delay heartbeats.
func (s *Service) pumpMessages(ctx context.Context, msgs <-chan *channel.Message) {
	for {
		select {
		case <-ctx.Done():
			return
		case msg := <-msgs:
			rx := s.receiver()
			if rx == nil {
				s.st.msgDrop.Add(1)
				continue
			}
			s.st.msgRecv.Add(1)
			if err := rx(msg); err != nil {
				s.log.Debug("mcast broadcast message not processed", "from", msg.Source.String(), "err", err)
			}
		}
	}
}

func (s *Service) receiver() channel.ReceiveFunc {
	if p := s.rxFunc.Load(); p != nil {
		return *p
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rxFallback
}

// ---------------------------------------------------------------- errors and recovery

// socketError records an error on the socket of generation gen. It reports whether the
// caller should pause (the socket is still the failing one).
func (s *Service) socketError(gen uint64, kind int, op string, err error) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.socketErrorLocked(gen, kind, op, err)
}

// Kinds of socket errors, counted separately as Tomcat's receiver and sender threads do.
const (
	rxErr = 0
	txErr = 1
)

func (s *Service) socketErrorLocked(gen uint64, kind int, op string, err error) bool {
	if gen != s.connGen || s.conn == nil {
		return false // an old socket, already replaced or closed
	}
	s.st.sockErr.Add(1)
	s.errCount[kind]++
	n := s.errCount[kind]
	if n == 1 {
		s.log.Warn("mcast socket error", "op", op, "err", err)
	}
	if n >= s.cfg.RecoveryCounter && !s.cfg.RecoveryDisabled && !s.recovering {
		s.recovering = true
		s.log.Warn("mcast socket failing, recovering", "errors", n, "err", err)
		life := s.life
		s.bg.Go(func() { s.recover(life) })
	}
	return true
}

// recover re-creates the socket every RecoverySleepTime until that works or the service
// stops. Unlike Tomcat it neither announces a shutdown nor forgets the members: the ones
// that are still there keep being heard once the new socket works.
func (s *Service) recover(ctx context.Context) {
	for attempt := 1; ; attempt++ {
		s.mu.Lock()
		if ctx.Err() != nil {
			s.mu.Unlock()
			return
		}
		old := s.conn
		conn, err := s.open(&s.cfg)
		if err == nil {
			s.conn = conn
			s.connGen++
			s.errCount, s.recovering = [2]int{}, false
			s.st.recov.Add(1)
			if s.running&channel.SvcMembershipTx != 0 {
				s.sendHeartbeatLocked(false)
			}
		}
		s.mu.Unlock()
		if err == nil {
			if old != nil {
				_ = old.Close()
			}
			s.log.Info("mcast socket recovered", "attempt", attempt)
			return
		}
		s.log.Warn("mcast socket recovery failed", "attempt", attempt, "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(s.cfg.RecoverySleepTime):
		}
	}
}

// ---------------------------------------------------------------- events

type event struct {
	m     channel.Member
	added bool
}

// eventQueue delivers membership events to the listener from one goroutine, in the order
// they were pushed, without ever blocking the pusher.
type eventQueue struct {
	mu     sync.Mutex
	q      []event
	l      channel.MembershipListener
	closed bool
	wake   chan struct{}
}

func newEventQueue() *eventQueue { return &eventQueue{wake: make(chan struct{}, 1)} }

func (e *eventQueue) push(ev event) {
	e.mu.Lock()
	if !e.closed {
		e.q = append(e.q, ev)
	}
	e.mu.Unlock()
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// close makes run deliver what is queued and return.
func (e *eventQueue) close() {
	e.mu.Lock()
	e.closed = true
	e.mu.Unlock()
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

func (e *eventQueue) setListener(l channel.MembershipListener) {
	e.mu.Lock()
	e.l = l
	e.mu.Unlock()
}

func (e *eventQueue) run(_ context.Context) {
	for range e.wake {
		for {
			e.mu.Lock()
			if len(e.q) == 0 {
				closed := e.closed
				e.mu.Unlock()
				if closed {
					return
				}
				break
			}
			ev, l := e.q[0], e.l
			e.q = e.q[1:]
			e.mu.Unlock()
			if l == nil {
				continue
			}
			if ev.added {
				l.MemberAdded(ev.m)
			} else {
				l.MemberDisappeared(ev.m)
			}
		}
	}
}
