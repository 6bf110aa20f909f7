package interceptors

import (
	"context"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
)

// The coordination messages queued for the coordinator's goroutine, and apart from them
// those held for senders not members yet, hold views of at most maxQueuedViewMembers
// members together; beyond, a message is dropped (InboxDropped for the queue). Only their
// number was bounded (InboxLimit, 64 each): a view may have 65 536 members (13 MB parsed),
// so a member flooding elections while the goroutine waited on an alive check, and
// strangers sending from as many sources, made the node hold 1.6 GB.
func TestNonBlockingCoordinatorQueuedViewsBounded(t *testing.T) {
	nw := channeltest.NewNetwork()
	entered := make(chan struct{}, 1)
	release := make(chan struct{})
	c, err := NewNonBlockingCoordinator(NonBlockingCoordinatorConfig{
		AliveCheck: func(ctx context.Context, m channel.Member) bool { // blocks the goroutine
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
	peer := newNode(t, nw)
	startNodes(t, n, peer)
	t.Cleanup(func() { close(release) })
	member := peer.member()
	queuedViews := func() (msgs, views int) {
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, ev := range c.inbox {
			if ev.kind == evMessage {
				msgs++
				views += len(ev.msg.View)
			}
		}
		return msgs, views
	}
	heldViews := func() (msgs, views int) {
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, h := range c.held {
			msgs++
			views += len(h.msg.View)
		}
		return msgs, views
	}

	cm := CoordinationMessage{Leader: unreachableMember, Source: member,
		View: []channel.Member{unreachableMember, member}, ID: newViewID(), Type: CoordRequest}
	if err := n.tap.inject(coordMessage(t, member, cm)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the coordinator never checked the unknown member")
	}
	const size = 4096 // 64 such views: 262 144 members
	big := make([]channel.Member, size)
	for i := range big {
		big[i] = member
	}
	cm.View = big
	before := c.Stats().InboxDropped
	for range DefaultCoordInboxLimit {
		cm.ID = newViewID()
		if err := n.tap.inject(coordMessage(t, member, cm)); err != nil {
			t.Fatal(err)
		}
	}
	msgs, views := queuedViews()
	if views > maxQueuedViewMembers || msgs != maxQueuedViewMembers/size {
		t.Errorf("%d messages queued with %d view members (bound %d)", msgs, views, maxQueuedViewMembers)
	}
	if s := c.Stats(); s.InboxDropped-before != uint64(DefaultCoordInboxLimit-msgs) {
		t.Errorf("%d dropped, want %d", s.InboxDropped-before, DefaultCoordInboxLimit-msgs)
	}

	for i := range DefaultCoordInboxLimit {
		stranger := channel.Member{Host: []byte{10, 9, 0, byte(i)}, Port: 4000, SecurePort: -1, UDPPort: -1,
			UniqueID: channel.UniqueID{0x5e, byte(i)}}
		sm := CoordinationMessage{Leader: stranger, Source: stranger, View: big, ID: newViewID(), Type: CoordRequest}
		if err := n.tap.inject(coordMessage(t, stranger, sm)); err != nil {
			t.Fatal(err)
		}
	}
	if msgs, views := heldViews(); views > maxQueuedViewMembers || msgs != maxQueuedViewMembers/size {
		t.Errorf("%d strangers' messages held with %d view members (bound %d)", msgs, views, maxQueuedViewMembers)
	}
}
