package interceptors

import (
	"context"
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
