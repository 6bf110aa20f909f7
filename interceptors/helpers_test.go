package interceptors

import (
	"bytes"
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
)

// tnode is a channel over the in-memory network with a recording listener.
type tnode struct {
	t    testing.TB
	ch   *channel.Channel
	net  *channeltest.Node
	tap  *tap
	mu   sync.Mutex
	got  []*channel.Message
	fail func(*channel.Message) error
	wait func(*channel.Message) // called before recording, may block (a gate)
}

// newNode builds (not starts) a channel with ics on top of a tap at the bottom. The
// channel accepts messages from non-members: tests deliver messages from invented members.
func newNode(t testing.TB, nw *channeltest.Network, ics ...channel.Interceptor) *tnode {
	t.Helper()
	return buildNode(t, nw, true, ics)
}

// newCheckingNode is newNode with the channel's sender check on (its default).
func newCheckingNode(t testing.TB, nw *channeltest.Network, ics ...channel.Interceptor) *tnode {
	t.Helper()
	return buildNode(t, nw, false, ics)
}

func buildNode(t testing.TB, nw *channeltest.Network, open bool, ics []channel.Interceptor) *tnode {
	t.Helper()
	n := &tnode{t: t, net: nw.NewNode(), tap: &tap{}}
	stack := append(slices.Clone(ics), n.tap)
	var err error
	n.ch, err = channel.New(channel.Config{
		Transport: n.net.Transport(), Membership: n.net.Membership(),
		Interceptors: stack, HeartbeatInterval: -1, AcceptNonMembers: open,
	})
	if err != nil {
		t.Fatal(err)
	}
	n.ch.AddMessageListener(channel.MessageListenerFunc(func(m *channel.Message) error {
		if n.wait != nil {
			n.wait(m)
		}
		if n.fail != nil {
			if err := n.fail(m); err != nil {
				return err
			}
		}
		n.mu.Lock()
		n.got = append(n.got, m)
		n.mu.Unlock()
		return nil
	}))
	return n
}

// startNodes starts every node (all levels) and stops them at cleanup.
func startNodes(t testing.TB, nodes ...*tnode) {
	t.Helper()
	for _, n := range nodes {
		if err := n.ch.Start(context.Background(), channel.SvcAll); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		for _, n := range nodes {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			if err := n.ch.Stop(ctx, channel.SvcAll); err != nil {
				t.Errorf("stop: %v", err)
			}
			cancel()
		}
	})
}

func (n *tnode) member() channel.Member { return n.ch.LocalMember() }

func (n *tnode) messages() []*channel.Message {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.got)
}

func (n *tnode) payloads() [][]byte {
	var out [][]byte
	for _, m := range n.messages() {
		out = append(out, m.Data)
	}
	return out
}

func (n *tnode) send(t testing.TB, to *tnode, data []byte, opts channel.SendOptions) {
	t.Helper()
	if err := n.ch.Send(context.Background(), []channel.Member{to.member()}, data, opts); err != nil {
		t.Fatalf("send: %v", err)
	}
}

// tap records what passes it, in both directions, and can inject received messages.
type tap struct {
	channel.InterceptorBase
	mu   sync.Mutex
	down []*channel.Message
	up   []*channel.Message
}

func (p *tap) SendMessage(ctx context.Context, to []channel.Member, msg *channel.Message) error {
	p.mu.Lock()
	p.down = append(p.down, msg.Clone())
	p.mu.Unlock()
	return p.Next().SendMessage(ctx, to, msg)
}

func (p *tap) MessageReceived(msg *channel.Message) error {
	p.mu.Lock()
	p.up = append(p.up, msg.Clone())
	p.mu.Unlock()
	return p.Prev().MessageReceived(msg)
}

func (p *tap) sent() []*channel.Message {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.down)
}

// inject hands msg to the layers above the tap as if it had been received.
func (p *tap) inject(msg *channel.Message) error { return p.Prev().MessageReceived(msg) }

// blocker is a bottom layer whose sends wait for release or the context.
type blocker struct {
	channel.InterceptorBase
	mu       sync.Mutex
	inFlight int
	peak     int
	release  chan struct{}
	count    int
}

func newBlocker() *blocker { return &blocker{release: make(chan struct{})} }

func (b *blocker) SendMessage(ctx context.Context, to []channel.Member, msg *channel.Message) error {
	b.mu.Lock()
	b.inFlight++
	b.peak = max(b.peak, b.inFlight)
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		b.inFlight--
		b.count++
		b.mu.Unlock()
	}()
	select {
	case <-b.release:
		return b.Next().SendMessage(ctx, to, msg)
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (b *blocker) stats() (inFlight, peak, count int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.inFlight, b.peak, b.count
}

func seqData(i, size int) []byte {
	b := bytes.Repeat([]byte{byte(i)}, size)
	if size >= 4 {
		b[0], b[1], b[2], b[3] = byte(i>>24), byte(i>>16), byte(i>>8), byte(i)
	}
	return b
}

// must returns v, panicking on err: for constructors whose configuration is known good.
func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// newCoordNode is a node on nw whose NonBlockingCoordinator takes a member for alive if
// the node reaches it (as the default TCP connect check), with extra interceptors
// below the coordinator.
func newCoordNode(t *testing.T, nw *channeltest.Network, extra ...channel.Interceptor) *coordNode {
	t.Helper()
	cn := &coordNode{}
	c, err := NewNonBlockingCoordinator(NonBlockingCoordinatorConfig{
		AliveCheck: func(_ context.Context, m channel.Member) bool { return cn.net.Reaches(m) },
	})
	if err != nil {
		t.Fatal(err)
	}
	cn.c = c
	cn.tnode = newNode(t, nw, append([]channel.Interceptor{c}, extra...)...)
	return cn
}

// startUnlistedJoiner starts on nw a checking node n with o and a joiner with an Order of
// its own, and partitions them until n no longer lists the joiner. list heals the
// partition and waits until n lists the joiner.
func startUnlistedJoiner(t *testing.T, nw *channeltest.Network, o *Order) (n, joiner *tnode, list func()) {
	t.Helper()
	n = newCheckingNode(t, nw, o)
	joiner = newCheckingNode(t, nw, newOrder(t, OrderConfig{}))
	startNodes(t, n, joiner)
	listed := func() bool {
		_, ok := n.ch.Member(joiner.member().Key())
		return ok
	}
	nw.Partition(n.net, joiner.net)
	testutil.EventuallyTrue(t, testutil.WaitLimit, "the joiner not listed", func() bool { return !listed() })
	return n, joiner, func() {
		t.Helper()
		nw.Heal(n.net, joiner.net)
		testutil.EventuallyTrue(t, testutil.WaitLimit, "the joiner listed", listed)
	}
}
