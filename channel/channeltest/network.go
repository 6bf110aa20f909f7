package channeltest

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/callq"
)

// Network connects in-memory nodes.
//
// Membership events go up one at a time, in the order of the changes, outside the
// network's locks: the goroutine of a change (a membership's Start or Stop, Partition,
// Heal, Isolate, Kill) delivers them, and the events queued meanwhile by other changes,
// unless another one is delivering: then that one delivers them after the event under
// way. Each change returns once its events went up; a membership's Start and Stop only
// until their ctx ends (they then return an error wrapping ctx's, the events still going
// up in order). A membership's Stop or Start made from a listener, on the goroutine
// delivering the events, waits for none of them and returns nil, whatever its ctx: they
// go up on that goroutine once the listener returned, so a listener may stop or restart
// its channel (TestChannelStopFromAListenerReturns,
// TestChannelStopFromAListenerWithBackgroundReturns,
// TestChannelRestartFromAListenerReturns); a Stop from another goroutine waits for its
// events, behind those queued before them, and a Stop of a running level with no event
// (its node's view already empty) for the events queued before it, so that no listener
// call runs once it returned nil (TestStopReportingNoMemberGoneWaitsForEarlierEvents),
// while a Stop of levels not running returns at once.
// Partition, Heal, Isolate and Kill wait without a ctx: a listener must not call them.
type Network struct {
	mu       sync.Mutex
	evMu     sync.Mutex  // held across each change of the views and the queueing of its events, to keep them in order; taken before mu
	events   callq.Queue // the membership events waiting to go up, queued under evMu, run outside it
	nodes    map[int32]*Node
	nextPort int32
	cut      map[[2]int32]bool
}

// NewNetwork returns an empty network.
func NewNetwork() *Network {
	return &Network{nodes: map[int32]*Node{}, nextPort: 4000, cut: map[[2]int32]bool{}}
}

// Node is one endpoint: its Transport and Membership go into a channel.Config.
type Node struct {
	nw   *Network
	port int32

	// guarded by nw.mu
	rx        channel.ReceiveFunc
	levels    channel.Service
	local     channel.Member
	startedAt time.Time
	listener  channel.MembershipListener
	view      map[channel.MemberKey]channel.Member
	killed    bool
	sent      int
	maxSize   int
	loss      func(channel.LostMessage)
}

// NewNode adds a node to the network.
func (nw *Network) NewNode() *Node {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	n := &Node{nw: nw, port: nw.nextPort, view: map[channel.MemberKey]channel.Member{}}
	nw.nextPort++
	nw.nodes[n.port] = n
	return n
}

// Transport returns the node's transport.
func (n *Node) Transport() channel.Transport { return (*transport)(n) }

// Membership returns the node's membership service.
func (n *Node) Membership() channel.MembershipService { return (*membership)(n) }

// Port is the node's port.
func (n *Node) Port() int32 { return n.port }

// Member returns the node's member as others see it (valid once its channel started).
func (n *Node) Member() channel.Member {
	n.nw.mu.Lock()
	defer n.nw.mu.Unlock()
	return n.local
}

// SetMaxMessageSize makes the node lose every message whose data exceeds max bytes (0:
// none), as transport/nio refuses a frame above its MaxFrameSize: the message is not
// delivered, the node's channel is told (channel.LossReporter: the error wraps
// channel.ErrMessageTooLarge) and the sender's Send fails with channel.ErrConnectionLost.
func (n *Node) SetMaxMessageSize(max int) {
	n.nw.mu.Lock()
	defer n.nw.mu.Unlock()
	n.maxSize = max
}

// Partition cuts the link between a and b in both directions.
func (nw *Network) Partition(a, b *Node) { nw.setCut(a, b, true) }

// Heal restores the link between a and b.
func (nw *Network) Heal(a, b *Node) { nw.setCut(a, b, false) }

// Isolate cuts the links between n and each of others at once: the nodes' views change
// together, so no moment passes in which n reaches some of them and not the others (as
// between two calls of Partition, which the probes of session/delta's partial partitions
// see as a cut of some links only).
func (nw *Network) Isolate(n *Node, others ...*Node) { nw.setCut(n, nil, true, others...) }

func (nw *Network) setCut(a, b *Node, cut bool, more ...*Node) {
	nw.evMu.Lock()
	nw.mu.Lock()
	for _, o := range append(slices.Clip(more), b) { // Clip: never write into the caller's array
		if o != nil {
			nw.cut[[2]int32{a.port, o.port}] = cut
			nw.cut[[2]int32{o.port, a.port}] = cut
		}
	}
	ev := nw.recompute()
	nw.mu.Unlock()
	done := nw.queueLocked(ev)
	nw.evMu.Unlock()
	_ = nw.events.RunWait(context.Background(), done)
}

// Kill stops n abruptly: it neither sends nor receives any more, and the others see it
// disappear, as a crashed process.
func (nw *Network) Kill(n *Node) {
	nw.evMu.Lock()
	nw.mu.Lock()
	n.killed = true
	ev := nw.recompute()
	nw.mu.Unlock()
	done := nw.queueLocked(ev)
	nw.evMu.Unlock()
	_ = nw.events.RunWait(context.Background(), done)
}

// Reaches reports whether a message n sent to m now would be delivered: m's node exists,
// its receiver runs, neither was killed and their link is not cut. It stands in for a
// connect check (such as NonBlockingCoordinatorConfig.AliveCheck) in tests.
func (n *Node) Reaches(m channel.Member) bool {
	n.nw.mu.Lock()
	defer n.nw.mu.Unlock()
	dst := n.nw.nodes[m.Port]
	return dst != nil && dst.rx != nil && n.nw.linked(n, dst)
}

func (nw *Network) linked(a, b *Node) bool {
	return !a.killed && !b.killed && !nw.cut[[2]int32{a.port, b.port}]
}

type event struct {
	l     channel.MembershipListener
	m     channel.Member
	added bool
}

type events []event

// queueLocked queues ev, with evMu held: events queue in the order of the changes. It
// returns the channel closed once the last went up, nil if there is none.
func (nw *Network) queueLocked(ev events) chan struct{} {
	if len(ev) == 0 {
		return nil
	}
	done := make(chan struct{})
	for i, e := range ev {
		last := i == len(ev)-1
		nw.events.Add(func() {
			if last {
				defer close(done)
			}
			if e.added {
				e.l.MemberAdded(e.m)
			} else {
				e.l.MemberDisappeared(e.m)
			}
		})
	}
	return done
}

// recompute updates every node's view and returns the events to deliver. Caller holds nw.mu.
func (nw *Network) recompute() events {
	var ev events
	ports := make([]int32, 0, len(nw.nodes))
	for p := range nw.nodes {
		ports = append(ports, p)
	}
	slices.Sort(ports)
	for _, p := range ports {
		n := nw.nodes[p]
		want := map[channel.MemberKey]channel.Member{}
		if n.levels&channel.SvcMembershipRx != 0 && !n.killed {
			for _, q := range ports {
				o := nw.nodes[q]
				if o != n && o.levels&channel.SvcMembershipTx != 0 && nw.linked(n, o) {
					want[o.local.Key()] = o.local
				}
			}
		}
		for k, m := range n.view {
			if _, ok := want[k]; !ok {
				delete(n.view, k)
				if n.listener != nil {
					ev = append(ev, event{n.listener, m, false})
				}
			}
		}
		for _, q := range ports {
			o := nw.nodes[q]
			k := o.local.Key()
			if m, ok := want[k]; ok {
				if _, had := n.view[k]; !had {
					n.view[k] = m
					if n.listener != nil {
						ev = append(ev, event{n.listener, m, true})
					}
				}
			}
		}
	}
	return ev
}

type transport Node

func (t *transport) Start(_ context.Context, svc channel.Service, rx channel.ReceiveFunc) error {
	n := (*Node)(t)
	n.nw.mu.Lock()
	defer n.nw.mu.Unlock()
	if n.killed {
		return fmt.Errorf("channeltest: node %d was killed", n.port)
	}
	n.levels |= svc & channel.SvcTransport
	if svc&channel.SvcReceiver != 0 {
		n.rx = rx
	}
	return nil
}

func (t *transport) Stop(_ context.Context, svc channel.Service) error {
	n := (*Node)(t)
	n.nw.mu.Lock()
	defer n.nw.mu.Unlock()
	n.levels &^= svc & channel.SvcTransport
	if svc&channel.SvcReceiver != 0 {
		n.rx = nil
	}
	return nil
}

func (t *transport) LocalAddress() channel.LocalAddress {
	return channel.LocalAddress{Host: []byte{127, 0, 0, 1}, Port: t.port, SecurePort: -1, UDPPort: -1}
}

func (t *transport) Heartbeat() {}

// SetLossFunc implements channel.LossReporter (see Node.SetMaxMessageSize).
func (t *transport) SetLossFunc(f func(channel.LostMessage)) {
	n := (*Node)(t)
	n.nw.mu.Lock()
	defer n.nw.mu.Unlock()
	n.loss = f
}

// Send delivers msg to each destination in turn by calling its receiver.
func (t *transport) Send(ctx context.Context, to []channel.Member, msg *channel.Message) error {
	n := (*Node)(t)
	var faulty []channel.FaultyMember
	for _, m := range to {
		if err := ctx.Err(); err != nil {
			faulty = append(faulty, channel.FaultyMember{Member: m, Err: err})
			continue
		}
		if err := n.deliver(m, msg); err != nil {
			faulty = append(faulty, channel.FaultyMember{Member: m, Err: err})
		}
	}
	return channel.NewSendError(msg.ID, faulty)
}

func (n *Node) deliver(to channel.Member, msg *channel.Message) error {
	n.nw.mu.Lock()
	dst := n.nw.nodes[to.Port]
	var rx channel.ReceiveFunc
	var loss func(channel.LostMessage)
	tooLarge, max := false, 0
	if dst != nil && n.nw.linked(n, dst) && !n.killed {
		rx, loss, max = dst.rx, dst.loss, dst.maxSize
		tooLarge = max > 0 && len(msg.Data) > max
	}
	n.sent++
	n.nw.mu.Unlock()
	if rx == nil {
		return fmt.Errorf("%w: %s unreachable", channel.ErrConnect, to.Addr())
	}
	if tooLarge {
		if loss != nil {
			loss(channel.LostMessage{Source: msg.Source, Size: len(msg.Data),
				Err: fmt.Errorf("%w: %d bytes, the receiver takes %d", channel.ErrMessageTooLarge, len(msg.Data), max)})
		}
		return fmt.Errorf("%w: %s refused a message of %d bytes", channel.ErrConnectionLost, to.Addr(), len(msg.Data))
	}
	in := msg.Clone()
	in.SourceBytes, in.OnComplete = nil, nil
	err := rx(in)
	if err != nil && msg.Options.IsSyncAck() {
		return fmt.Errorf("%w: %v", channel.ErrAckFailed, err)
	}
	return nil
}

type membership Node

func (s *membership) Start(ctx context.Context, svc channel.Service, local channel.Member, l channel.MembershipListener) error {
	n := (*Node)(s)
	n.nw.evMu.Lock()
	n.nw.mu.Lock()
	if n.levels&channel.SvcMembership == 0 {
		n.startedAt = time.Now()
	}
	n.local, n.listener = local, l
	n.levels |= svc & channel.SvcMembership
	ev := n.nw.recompute()
	n.nw.mu.Unlock()
	done := n.nw.queueLocked(ev)
	inCall := done != nil && n.nw.events.InCall() // no id read for a Start with no event
	n.nw.evMu.Unlock()
	if inCall {
		// Made from a listener (restarting its channel), on the goroutine delivering the
		// events: they go up on this goroutine once it returned.
		return nil
	}
	if err := n.nw.events.RunWait(ctx, done); err != nil {
		return fmt.Errorf("channeltest: start: the membership events not yet delivered: %w", err)
	}
	return nil
}

func (s *membership) Stop(ctx context.Context, svc channel.Service) error {
	n := (*Node)(s)
	n.nw.evMu.Lock()
	n.nw.mu.Lock()
	stopping := n.levels&svc&channel.SvcMembership != 0
	n.levels &^= svc & channel.SvcMembership
	ev := n.nw.recompute()
	n.nw.mu.Unlock()
	done := n.nw.queueLocked(ev)
	inCall := (done != nil || stopping) && n.nw.events.InCall() // no id read for a Stop with nothing to wait for
	if done == nil && stopping && !inCall {
		// No event: wait for those queued before, so that no listener call runs once
		// Stop returned (TestStopReportingNoMemberGoneWaitsForEarlierEvents).
		done = make(chan struct{})
		n.nw.events.Add(func() { close(done) })
	}
	n.nw.evMu.Unlock()
	if inCall {
		// Made from a listener, on the goroutine delivering the events: the call it is
		// made in, and the events behind it, go up on this goroutine once it returned.
		return nil
	}
	if err := n.nw.events.RunWait(ctx, done); err != nil {
		return fmt.Errorf("channeltest: stop: the membership events not yet delivered: %w", err)
	}
	return nil
}

func (s *membership) Members() []channel.Member {
	n := (*Node)(s)
	n.nw.mu.Lock()
	defer n.nw.mu.Unlock()
	type aged struct {
		m  channel.Member
		at time.Time
	}
	var list []aged
	for k, m := range n.view {
		at := time.Time{}
		for _, o := range n.nw.nodes {
			if o.local.Key() == k {
				at = o.startedAt
			}
		}
		m.AliveTime = time.Since(at).Milliseconds()
		list = append(list, aged{m, at})
	}
	slices.SortFunc(list, func(a, b aged) int { return cmp.Or(a.at.Compare(b.at), cmp.Compare(a.m.Port, b.m.Port)) })
	out := make([]channel.Member, len(list))
	for i, a := range list {
		out[i] = a.m
	}
	return out
}

func (s *membership) Member(key channel.MemberKey) (channel.Member, bool) {
	for _, m := range s.Members() {
		if m.Key() == key {
			return m, true
		}
	}
	return channel.Member{}, false
}

func (s *membership) Heartbeat() {}

// TB is the part of testing.TB that Start uses.
type TB interface {
	Helper()
	Cleanup(func())
	Fatalf(format string, args ...any)
	Errorf(format string, args ...any)
}

// stopLimit bounds the stop of a channel that Start started.
const stopLimit = 15 * time.Second

// Start starts every service of ch for a test (on any transport, not only this
// package's) and stops ch when the test ends; a failure of either fails the test.
func Start(t TB, ch *channel.Channel) {
	t.Helper()
	if err := ch.Start(context.Background(), channel.SvcAll); err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), stopLimit)
		defer cancel()
		if err := ch.Stop(ctx, channel.SvcAll); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
}

// StartChannel starts a channel.Channel on a new node of nw, without heartbeats
// (HeartbeatInterval -1: the network's membership needs none), as Start does, which also
// stops it when the test ends. A test that needs other settings builds its channel on
// NewNode's Transport and Membership.
func (nw *Network) StartChannel(tb TB) (*Node, *channel.Channel) {
	tb.Helper()
	n := nw.NewNode()
	ch, err := channel.New(channel.Config{Transport: n.Transport(), Membership: n.Membership(), HeartbeatInterval: -1})
	if err != nil {
		tb.Fatalf("channel: %v", err)
	}
	Start(tb, ch)
	return n, ch
}
