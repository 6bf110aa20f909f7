package interceptors

import (
	"context"
	"errors"
	"net"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
)

// NonBlockingCoordinator.MessageReceived parses every coordination message, from anyone,
// and appends it to an inbox that its one goroutine works through; post never refuses an
// event. That goroutine blocks while it checks members it does not know (a TCP connect of
// up to ConnectTimeout each, one after the other, for every unknown member of the
// message's view; members that fail are not remembered, so every message checks them
// again). A stranger that names unreachable members therefore stalls the goroutine, and
// every further message it sends is parsed and queued without limit: the receive path
// gives no back-pressure (it returns at once) and nothing bounds the queue.
func TestReviewCoordinatorInboxBounded(t *testing.T) {
	nw := channeltest.NewNetwork()
	entered := make(chan struct{}, 1)
	release := make(chan struct{})
	c, err := NewNonBlockingCoordinator(NonBlockingCoordinatorConfig{
		// Stands for a TCP connect to an address that does not answer (ConnectTimeout, 2 s).
		AliveCheck: func(ctx context.Context, m channel.Member) bool {
			select {
			case entered <- struct{}{}:
			default:
			}
			select {
			case <-release:
			case <-ctx.Done():
			}
			return false
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	n := newNode(t, nw, c)
	startNodes(t, n)
	t.Cleanup(func() { close(release) }) // runs before the nodes stop

	stranger := strangerMember(1)
	msg := CoordinationMessage{Leader: stranger, Source: stranger, View: []channel.Member{stranger},
		ID: newViewID(), Type: CoordRequest}
	payload, err := msg.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	inject := func() {
		if err := n.tap.inject(&channel.Message{Options: channel.OptUseAck, ID: channel.NewMessageID(),
			Source: stranger, Data: payload}); err != nil {
			t.Fatal(err)
		}
	}
	inject()
	select {
	case <-entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the coordinator never checked the stranger's member")
	}
	const flood = 5000
	for range flood {
		inject()
	}
	c.mu.Lock()
	queued := len(c.inbox)
	c.mu.Unlock()
	if queued >= flood {
		t.Fatalf("the coordinator queued %d election messages from a non-member while its goroutine was busy: the inbox has no bound", queued)
	}
}

// A view confirmation (COORD_CONF) is installed as it comes, from anyone: handleViewConf
// installs viewOf(local, cm.View), the message's own view, not the merged one in which the
// members that failed the alive check were dropped. A stranger that sends two elected
// members a CONF naming an invented member that sorts first (it answers no connect, is
// in no membership) makes that invented member their coordinator: neither believes it is
// the coordinator any more, until the next heartbeat's election (and the stranger can
// send again).
func TestReviewCoordinatorViewConfFromStranger(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := channeltest.NewNetwork()
		nodes := newCoordNodes(t, nw, 2)
		startNodes(t, nodes[0].tnode, nodes[1].tnode)
		synctest.Wait()
		checkAgreement(t, nodes)

		invented := channel.Member{Host: []byte{1, 0, 0, 1}, Port: 1, SecurePort: -1, UDPPort: -1,
			UniqueID: channel.UniqueID{0xee}}
		view := []channel.Member{invented, nodes[0].member(), nodes[1].member()}
		msg := CoordinationMessage{Leader: invented, Source: invented, View: view, ID: newViewID(), Type: CoordConf}
		payload, err := msg.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range nodes {
			if err := n.tap.inject(&channel.Message{Options: channel.OptUseAck, ID: channel.NewMessageID(),
				Source: invented, Data: payload}); err != nil {
				t.Fatal(err)
			}
		}
		synctest.Wait()
		for i, n := range nodes {
			co, _ := n.c.Coordinator()
			if co.Equal(invented) {
				t.Errorf("node %d: the coordinator is %v, a member named only in a stranger's view confirmation, that fails the alive check and is in no membership", i, co)
			}
		}
		if !nodes[0].c.IsCoordinator() && !nodes[1].c.IsCoordinator() {
			t.Errorf("after a stranger's view confirmation neither member is the coordinator")
		}
	})
}

// The channel delivers a message only from a member (channel.Config.AcceptNonMembers
// false, docs/security.md: "a stranger asking for or changing sessions … the channel
// delivers a message only from a current member"), and asks the stack who is one. With a
// NonBlockingCoordinator in the stack, a stranger becomes a member by sending one election
// message naming itself: mergeOnArrive adds every unknown member of the message's view
// that accepts a TCP connection to the coordinator's membership (and passes MemberAdded
// up), and NonBlockingCoordinator.Member answers from that membership. The stranger only
// needs a listening socket; from then on its application messages are delivered.
func TestReviewCoordinatorStrangerBecomesMember(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.Close()
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port

	nw := channeltest.NewNetwork()
	c, err := NewNonBlockingCoordinator(NonBlockingCoordinatorConfig{}) // default AliveCheck: a TCP connect
	if err != nil {
		t.Fatal(err)
	}
	tp := &tap{}
	node := nw.NewNode()
	ch, err := channel.New(channel.Config{
		Transport: node.Transport(), Membership: node.Membership(),
		Interceptors: []channel.Interceptor{c, tp}, HeartbeatInterval: -1,
		// AcceptNonMembers false: the channel refuses non-members' messages.
	})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got []string
	ch.AddMessageListener(channel.MessageListenerFunc(func(m *channel.Message) error {
		mu.Lock()
		got = append(got, string(m.Data))
		mu.Unlock()
		return nil
	}))
	channeltest.Start(t, ch)

	stranger := channel.Member{Host: []byte{127, 0, 0, 1}, Port: int32(port), SecurePort: -1, UDPPort: -1,
		UniqueID: channel.UniqueID{0x5e}}
	app := func() error {
		return tp.inject(&channel.Message{ID: channel.NewMessageID(), Source: stranger, Data: []byte("take over")})
	}
	if err := app(); !errors.Is(err, channel.ErrNotMember) {
		t.Fatalf("before: a stranger's message: %v, want ErrNotMember", err)
	}

	cm := CoordinationMessage{Leader: stranger, Source: stranger, View: []channel.Member{stranger},
		ID: newViewID(), Type: CoordRequest}
	payload, err := cm.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if err := tp.inject(&channel.Message{Options: channel.OptUseAck, ID: channel.NewMessageID(),
		Source: stranger, Data: payload}); err != nil {
		t.Fatal(err)
	}
	// Poll (bounded) until the coordinator has taken the stranger in; a fixed coordinator
	// never does, and the check below then runs after the deadline.
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if _, ok := c.Member(stranger.Key()); ok {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	err = app()
	mu.Lock()
	delivered := slices.Clone(got)
	mu.Unlock()
	if !errors.Is(err, channel.ErrNotMember) || len(delivered) != 0 {
		t.Fatalf("after one election message naming itself, a stranger's application message: err %v, delivered %q; want ErrNotMember and nothing delivered (coordinator members: %v)",
			err, delivered, c.Members())
	}
}
