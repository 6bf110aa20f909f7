package interceptors

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
)

// Helpers of the membership interceptor tests (tcpfailure, ping, staticmember, domain).

// mbNode is a channel over the in-memory network that records membership events and
// messages.
type mbNode struct {
	ch  *channel.Channel
	net *channeltest.Node

	mu     sync.Mutex
	events []string // "+port" / "-port" ("-port!" when the member carries BABY-ALEX)
	order  []string // events and "msg:port" for each message delivered, in the order they came

	msgs []*channel.Message
}

type mbOpt struct {
	id         byte
	domain     string
	membership func(*channeltest.Node) channel.MembershipService
	// senderCheck turns the channel's sender check on (messages of non-members dropped).
	senderCheck bool
}

func mbNew(t testing.TB, nw *channeltest.Network, o mbOpt, ics ...channel.Interceptor) *mbNode {
	t.Helper()
	n := &mbNode{net: nw.NewNode()}
	ms := n.net.Membership()
	if o.membership != nil {
		ms = o.membership(n.net)
	}
	var id channel.UniqueID
	id[0], id[15] = 0xee, o.id
	var err error
	n.ch, err = channel.New(channel.Config{Transport: n.net.Transport(), Membership: ms,
		Interceptors: ics, HeartbeatInterval: -1, UniqueID: id, Domain: []byte(o.domain),
		AcceptNonMembers: !o.senderCheck}) // by default nodes listing nobody see each other's notices
	if err != nil {
		t.Fatal(err)
	}
	n.ch.AddMembershipListener(channel.MembershipFuncs{
		Added: func(m channel.Member) { n.event(fmt.Sprintf("+%d", m.Port)) },
		Disappeared: func(m channel.Member) {
			s := fmt.Sprintf("-%d", m.Port)
			if m.IsShutdown() {
				s += "!"
			}
			n.event(s)
		},
	})
	n.ch.AddMessageListener(channel.MessageListenerFunc(func(m *channel.Message) error {
		n.mu.Lock()
		defer n.mu.Unlock()
		n.msgs = append(n.msgs, m)
		n.order = append(n.order, fmt.Sprintf("msg:%d", m.Source.Port))
		return nil
	}))
	return n
}

// expected member of a node that is not started yet (in-memory nodes are 127.0.0.1:port).
func (n *mbNode) expected(id byte) channel.Member {
	m := channel.Member{Host: []byte{127, 0, 0, 1}, Port: n.net.Port(), SecurePort: -1, UDPPort: -1}
	m.UniqueID[0], m.UniqueID[15] = 0xee, id
	return m
}

func (n *mbNode) event(s string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.events = append(n.events, s)
	n.order = append(n.order, s)
}

func (n *mbNode) orderLog() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.order)
}

func (n *mbNode) evs() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.events)
}

func (n *mbNode) received() []*channel.Message {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.msgs)
}

func (n *mbNode) port() int32 { return n.net.Port() }

func mbStart(t testing.TB, nodes ...*mbNode) {
	t.Helper()
	for _, n := range nodes {
		if err := n.ch.Start(context.Background(), channel.SvcAll); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		for _, n := range nodes {
			mbStop(t, n)
		}
	})
}

func mbStop(t testing.TB, n *mbNode) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.ch.Stop(ctx, channel.SvcAll); err != nil {
		t.Errorf("stop: %v", err)
	}
}

func mbWantEvents(t testing.TB, n *mbNode, want ...string) {
	t.Helper()
	if got := n.evs(); !slices.Equal(got, want) {
		t.Fatalf("node %d: events [%s], want [%s]", n.port(), strings.Join(got, " "), strings.Join(want, " "))
	}
}

func mbPorts(ms []channel.Member) []int32 {
	out := []int32{}
	for _, m := range ms {
		out = append(out, m.Port)
	}
	return out
}

// aliveSet is a fake liveness check for TCPFailureDetector.Probe.
type aliveSet struct {
	mu    sync.Mutex
	alive map[int32]bool
	n     int
}

func newAliveSet(ports ...int32) *aliveSet {
	a := &aliveSet{alive: map[int32]bool{}}
	for _, p := range ports {
		a.alive[p] = true
	}
	return a
}

func (a *aliveSet) set(port int32, alive bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.alive[port] = alive
}

func (a *aliveSet) probe(_ context.Context, m channel.Member) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.n++
	if !a.alive[m.Port] {
		return fmt.Errorf("%w: %d is dead", channel.ErrConnect, m.Port)
	}
	return nil
}

func (a *aliveSet) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.n
}

// failBelow is a bottom layer that fails sends to the given ports with err.
type failBelow struct {
	channel.InterceptorBase
	mu   sync.Mutex
	fail map[int32]error
}

func (f *failBelow) set(port int32, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail == nil {
		f.fail = map[int32]error{}
	}
	f.fail[port] = err
}

func (f *failBelow) SendMessage(ctx context.Context, to []channel.Member, msg *channel.Message) error {
	f.mu.Lock()
	var faulty []channel.FaultyMember
	var ok []channel.Member
	for _, m := range to {
		if err := f.fail[m.Port]; err != nil {
			faulty = append(faulty, channel.FaultyMember{Member: m, Err: err})
		} else {
			ok = append(ok, m)
		}
	}
	f.mu.Unlock()
	var err error
	if len(ok) > 0 {
		err = f.Next().SendMessage(ctx, ok, msg)
	}
	faulty = channel.AppendFaulty(faulty, err, ok)
	if len(faulty) > 0 {
		return &channel.SendError{MessageID: msg.ID, Faulty: faulty}
	}
	return nil
}

// wantNoOwnAllocs fails unless ic.Members allocates no more than the layer below's
// Members: with nothing to filter or add, an interceptor returns that list itself.
func wantNoOwnAllocs(t *testing.T, ic interface {
	Members() []channel.Member
	Next() channel.Interceptor
}) {
	t.Helper()
	below := testing.AllocsPerRun(100, func() { _ = ic.Next().Members() })
	if own := testing.AllocsPerRun(100, func() { _ = ic.Members() }); own != below {
		t.Fatalf("Members allocates %v times per call, the layer below %v", own, below)
	}
}

// heldAtCsAddition starts A (with the failure detector d), B and C (abcUnanswered), A's
// membership listener blocking on C's addition until open is called (at the latest when
// the test ends, before the nodes stop). held is closed once the listener blocks.
func heldAtCsAddition(t *testing.T, d *TCPFailureDetector) (a, b, c *mbNode, held chan struct{}, open func()) {
	t.Helper()
	hold, held, open := holdOnce()
	a, b, c = abcUnanswered(t, d, func(a, c *mbNode) {
		a.ch.AddMembershipListener(channel.MembershipFuncs{
			Added: func(m channel.Member) {
				if m.Port == c.port() {
					hold()
				}
			},
			Disappeared: func(channel.Member) {},
		})
	}, open)
	return a, b, c, held, open
}

// abcUnanswered starts A (with the failure detector d), B and C on a network of their
// own, listen adding A's listeners first, and waits until d checked B and C and found
// neither answering yet (d's probe decides). Each of open is called when the test ends,
// before the nodes stop.
func abcUnanswered(t *testing.T, d *TCPFailureDetector, listen func(a, c *mbNode), open ...func()) (a, b, c *mbNode) {
	t.Helper()
	nw := channeltest.NewNetwork()
	a = mbNew(t, nw, mbOpt{id: 1}, d)
	b = mbNew(t, nw, mbOpt{id: 2})
	c = mbNew(t, nw, mbOpt{id: 3})
	listen(a, c)
	mbStart(t, a, b, c)
	for _, f := range open {
		t.Cleanup(f)
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "B and C not answering", func() bool {
		return d.Settled() && d.Stats().AddSuspects == 2
	})
	return a, b, c
}
