package interceptors

import (
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

// The channel delivers a message only from a member (channel.Config.AcceptNonMembers
// false, docs/security.md), and asks the stack who is one. Tomcat's coordinator adds every
// member of an election message's view that accepts a TCP connect to its membership, from
// whoever sent it: a stranger with a listening socket became a member by sending one
// election message naming itself, and its application messages were delivered. The
// coordinator now refuses coordination messages from non-members.
func TestNonBlockingCoordinatorStrangerCannotJoin(t *testing.T) {
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
	if err := tp.inject(coordMessage(t, stranger, cm)); err != nil {
		t.Fatal(err)
	}
	// Poll (bounded) until the coordinator has either refused the message or taken the
	// stranger in (asynchronously, after its alive check).
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if _, ok := c.Member(stranger.Key()); ok || c.Stats().NotFromMember > 0 {
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
	if s := c.Stats(); s.NotFromMember != 1 || s.MessagesReceived != 0 {
		t.Fatalf("stats %+v, want the stranger's message refused", s)
	}
}

// A view confirmation (COORD_CONF) from a stranger naming an invented member that sorts
// first is refused (Tomcat installs any confirmation as it comes): the elected members keep
// their coordinator.
func TestNonBlockingCoordinatorViewConfFromStranger(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := channeltest.NewNetwork()
		nodes := newCoordNodes(t, nw, 2)
		startNodes(t, nodes[0].tnode, nodes[1].tnode)
		synctest.Wait()
		checkAgreement(t, nodes)

		invented := unreachableMember
		view := []channel.Member{invented, nodes[0].member(), nodes[1].member()}
		msg := CoordinationMessage{Leader: invented, Source: invented, View: view, ID: newViewID(), Type: CoordConf}
		for _, n := range nodes {
			if err := n.tap.inject(coordMessage(t, invented, msg)); err != nil {
				t.Fatal(err)
			}
		}
		synctest.Wait()
		for i, n := range nodes {
			co, _ := n.c.Coordinator()
			if co.Equal(invented) {
				t.Errorf("node %d: the coordinator is %v, a member named only in a stranger's view confirmation, that fails the alive check and is in no membership", i, co)
			}
			if s := n.c.Stats(); s.NotFromMember != 1 {
				t.Errorf("node %d: stats %+v, want the stranger's confirmation refused", i, s)
			}
		}
		if !nodes[0].c.IsCoordinator() && !nodes[1].c.IsCoordinator() {
			t.Errorf("after a stranger's view confirmation neither member is the coordinator")
		}
	})
}
