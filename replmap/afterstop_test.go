package replmap_test

import (
	"errors"
	"testing"

	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/replmap"
)

// A MSG_BACKUP from a member whose map sent its MSG_STOP (a Replicate of its still under
// way as it stopped) is refused with ErrMemberStopped, counted, and leaves the entry the
// local node took over as it was. Before, it was applied: the new primary's entry became
// a backup again, with the stale value and the stopped node as its primary, so that no
// node was the entry's primary. A new map on that node is a member again.
func TestMessageAfterStopRefused(t *testing.T) {
	nw := channeltest.NewNetwork()
	nodes := cluster(t, nw, 2)
	a, b := nodes[0], nodes[1]
	if _, err := a.m.Put(ctx(t), "k", "v"); err != nil {
		t.Fatal(err)
	}
	if err := a.m.Stop(ctx(t)); err != nil {
		t.Fatal(err)
	}
	local := b.ch.LocalMember()
	testutil.EventuallyTrue(t, testutil.WaitLimit, "k taken over", func() bool {
		p, ok := replmap.Primary(b.m, "k")
		return ok && p.Key() == local.Key()
	})
	err := replmap.DeliverBackup(b.m, a.ch.LocalMember(), "k", "stale")
	if !errors.Is(err, replmap.ErrMemberStopped) {
		t.Fatalf("a MSG_BACKUP after the sender's MSG_STOP: %v, want ErrMemberStopped", err)
	}
	if p, ok := replmap.Primary(b.m, "k"); !ok || p.Key() != local.Key() || replmap.Held(b.m, "k") != "v" {
		t.Fatalf("k after the refused backup: primary %s (%v), value %#v; want this node, v", p.String(), ok, replmap.Held(b.m, "k"))
	}
	if got := b.m.Stats().RefusedStopped; got != 1 {
		t.Errorf("Stats.RefusedStopped = %d, want 1", got)
	}

	// A new map on the stopped node's channel joins again; its messages are applied.
	newMap(t, a, replmap.Config{})
	start(t, a)
	waitMapMembers(t, nodes, 1)
	if err := replmap.DeliverBackup(b.m, a.ch.LocalMember(), "k2", "v2"); err != nil {
		t.Fatalf("a MSG_BACKUP from the new map: %v", err)
	}
	if got := replmap.Held(b.m, "k2"); got != "v2" {
		t.Errorf("k2 from the new map = %#v, want v2", got)
	}
}

// TestRefusalAfterStopEndsWhenChannelDropsMember: the refusal of a member's messages
// after its MSG_STOP lasts until the channel drops the member (its departure, here a
// partition) as well as until a new map there sends MSG_INIT or MSG_START: the map
// forgets the MSG_STOP of a member the channel no longer lists, and a message of the
// member back in the channel is applied as any other. (The docs said only MSG_INIT and
// MSG_START ended it.)
func TestRefusalAfterStopEndsWhenChannelDropsMember(t *testing.T) {
	nw := channeltest.NewNetwork()
	nodes := cluster(t, nw, 2)
	a, b := nodes[0], nodes[1]
	if err := a.m.Stop(ctx(t)); err != nil {
		t.Fatal(err)
	}
	waitMapMembers(t, []*node{b}, 0)
	from := a.ch.LocalMember()
	if err := replmap.DeliverBackup(b.m, from, "k1", "v1"); !errors.Is(err, replmap.ErrMemberStopped) {
		t.Fatalf("a MSG_BACKUP after the sender's MSG_STOP: %v, want ErrMemberStopped", err)
	}

	nw.Partition(a.tn, b.tn)
	testutil.EventuallyTrue(t, testutil.WaitLimit, "the channel drops the stopped member", func() bool {
		return len(b.ch.Members()) == 0
	})
	nw.Heal(a.tn, b.tn)
	testutil.EventuallyTrue(t, testutil.WaitLimit, "the member back in the channel", func() bool {
		return len(b.ch.Members()) == 1
	})
	if err := replmap.DeliverBackup(b.m, from, "k2", "v2"); err != nil {
		t.Fatalf("a MSG_BACKUP of the member the channel dropped and listed again: %v, want it applied", err)
	}
	if got := replmap.Held(b.m, "k2"); got != "v2" {
		t.Errorf("k2 = %#v, want v2", got)
	}
	if got := b.m.Stats().RefusedStopped; got != 1 {
		t.Errorf("Stats.RefusedStopped = %d, want 1 (the message before the drop)", got)
	}
}
