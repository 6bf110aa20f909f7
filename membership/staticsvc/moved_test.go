package staticsvc_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/membership/staticsvc"
	"github.com/gotribes/tribes/transport/nio"
)

// movingTransport sends with its first nio transport and receives with the next one each
// time its receiver level starts: a node whose receiver restarts on another port (an
// ephemeral port, or autobind past a port taken meanwhile), on ports the test chose.
type movingTransport struct {
	send *nio.Transport
	rx   []*nio.Transport

	mu  sync.Mutex
	n   int // receivers started so far
	cur *nio.Transport
}

func newMovingTransport(t *testing.T, ports ...int) *movingTransport {
	t.Helper()
	m := &movingTransport{}
	for _, p := range ports {
		cfg := nio.DefaultConfig()
		cfg.Port, cfg.AutoBind = p, 1
		tr, err := nio.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		m.rx = append(m.rx, tr)
	}
	m.send = m.rx[0]
	return m
}

func (m *movingTransport) Start(ctx context.Context, svc channel.Service, rx channel.ReceiveFunc) error {
	if svc&channel.SvcSender != 0 {
		if err := m.send.Start(ctx, channel.SvcSender, rx); err != nil {
			return err
		}
	}
	if svc&channel.SvcReceiver != 0 {
		m.mu.Lock()
		if m.n == len(m.rx) {
			m.mu.Unlock()
			return errors.New("movingTransport: no receiver left")
		}
		m.cur = m.rx[m.n]
		m.n++
		cur := m.cur
		m.mu.Unlock()
		return cur.Start(ctx, channel.SvcReceiver, rx)
	}
	return nil
}

func (m *movingTransport) Stop(ctx context.Context, svc channel.Service) error {
	var errs []error
	if svc&channel.SvcReceiver != 0 {
		m.mu.Lock()
		cur := m.cur
		m.mu.Unlock()
		if cur != nil {
			errs = append(errs, cur.Stop(ctx, channel.SvcReceiver))
		}
	}
	if svc&channel.SvcSender != 0 {
		errs = append(errs, m.send.Stop(ctx, channel.SvcSender))
	}
	return errors.Join(errs...)
}

func (m *movingTransport) LocalAddress() channel.LocalAddress {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cur.LocalAddress()
}

func (m *movingTransport) Send(ctx context.Context, to []channel.Member, msg *channel.Message) error {
	return m.send.Send(ctx, to, msg)
}

func (m *movingTransport) Heartbeat() { m.send.Heartbeat() }

// TestReceiverRestartMovesLocalMember: when the channel's receiver restarts on another
// port while the membership runs, the service learns the new local member
// (channel.LocalMemberUpdater, as membership/static and membership/mcast, and Tribes'
// setLocalMemberProperties): it pings the static member at the address it left, where
// another node may now run, and no longer pings its own new address. Before, it kept the
// member Start gave it: a node started at the old address was never pinged, so it never
// listed this node, and this node pinged itself and listed itself as a member.
func TestReceiverRestartMovesLocalMember(t *testing.T) {
	ctx := context.Background()
	p := testutil.FreePorts(t, 3)
	cfg := staticsvc.Config{Members: members(t, p...), ExpirationTime: time.Hour, PingInterval: 20 * time.Millisecond}

	tr := newMovingTransport(t, p[0], p[1])
	svc, err := staticsvc.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ch, err := channel.New(channel.Config{Transport: tr, Membership: svc, HeartbeatInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	a := &node{ch: ch, svc: svc, ev: &events{}}
	t.Cleanup(func() { _ = ch.Stop(context.Background(), channel.SvcAll) })
	b := newNode(t, p[2], staticsvc.Config{Members: cfg.Members, ExpirationTime: time.Hour, PingInterval: time.Hour})
	for _, n := range []*node{a, b} {
		if err := n.ch.Start(ctx, channel.SvcAll); err != nil {
			t.Fatal(err)
		}
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "a and b list each other", func() bool { return a.has(p[2]) && b.has(p[0]) })

	// a's receiver moves from p[0] to p[1].
	if err := ch.Stop(ctx, channel.SvcReceiver); err != nil {
		t.Fatal(err)
	}
	if err := ch.Start(ctx, channel.SvcReceiver); err != nil {
		t.Fatal(err)
	}
	if got := ch.LocalMember().Port; got != int32(p[1]) {
		t.Fatalf("a's receiver is at port %d, want %d", got, p[1])
	}

	// c starts at the address a left. Its own list has only itself: it learns of a only
	// from a's PINGs, which a sends only if it knows p[0] is no longer itself. c never
	// pings (PingInterval < 0, no channel heartbeat).
	c := newNode(t, p[0], staticsvc.Config{Members: members(t, p[0]), ExpirationTime: time.Hour, PingInterval: -1})
	if err := c.ch.Start(ctx, channel.SvcAll); err != nil {
		t.Fatal(err)
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "a pings the node at the address its receiver left", func() bool { return c.has(p[1]) })
	if a.has(p[1]) {
		t.Errorf("a lists a member at its own new address %d: %v", p[1], a.ch.Members())
	}
}
