package interceptors

import (
	"context"
	"fmt"
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
	n, c, member, cm := blockedCoordinator(t)
	heldViews := func() (msgs, views int) {
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, h := range c.held {
			msgs++
			views += len(h.msg.View)
		}
		return msgs, views
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
	msgs, views := queuedCoordViews(c)
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

// The bound on the queued views caps the number of election messages queued by their
// views' size: in a cluster of N members at most 65 536 / N, which is fewer than
// InboxLimit (64) above 1 024 members, and one at 40 000. The others are dropped and
// counted (InboxDropped), their elections abandoned after WaitTimeout.
func TestNonBlockingCoordinatorQueuedMessagesByViewSize(t *testing.T) {
	for _, tc := range []struct {
		members, sent, queued int
	}{
		{members: 1024, sent: DefaultCoordInboxLimit, queued: DefaultCoordInboxLimit},
		{members: 1025, sent: DefaultCoordInboxLimit, queued: 63},
		{members: 2048, sent: DefaultCoordInboxLimit, queued: 32},
		{members: 40000, sent: 4, queued: 1},
	} {
		t.Run(fmt.Sprint(tc.members), func(t *testing.T) {
			n, c, member, cm := blockedCoordinator(t)
			cm.View = make([]channel.Member, tc.members)
			for i := range cm.View {
				cm.View[i] = member
			}
			before := c.Stats().InboxDropped
			for range tc.sent {
				cm.ID = newViewID()
				if err := n.tap.inject(coordMessage(t, member, cm)); err != nil {
					t.Fatal(err)
				}
			}
			if msgs, views := queuedCoordViews(c); msgs != tc.queued || views != tc.queued*tc.members {
				t.Errorf("%d messages queued with %d view members, want %d", msgs, views, tc.queued)
			}
			if got, want := c.Stats().InboxDropped-before, uint64(tc.sent-tc.queued); got != want {
				t.Errorf("%d dropped, want %d", got, want)
			}
		})
	}
}

// blockedCoordinator starts a NonBlockingCoordinator beside a peer and has its goroutine
// wait (until the test ends) on the alive check of a member that a message of the peer
// names, so that what comes next stays queued. It returns the coordinator's node, the
// coordinator, the peer and that message.
func blockedCoordinator(t *testing.T) (*tnode, *NonBlockingCoordinator, channel.Member, CoordinationMessage) {
	t.Helper()
	nw := channeltest.NewNetwork()
	entered := make(chan struct{}, 1)
	release := make(chan struct{})
	c, err := NewNonBlockingCoordinator(NonBlockingCoordinatorConfig{
		// Nothing held expires while the test runs: under the race detector on a busy
		// machine, parsing its messages takes longer than the default 15 s, and the
		// strangers' messages held first made room for later ones.
		WaitTimeout: time.Hour,
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
	return n, c, member, cm
}

// queuedCoordViews returns the coordination messages queued in c's inbox and the members
// of their views.
func queuedCoordViews(c *NonBlockingCoordinator) (msgs, views int) {
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
