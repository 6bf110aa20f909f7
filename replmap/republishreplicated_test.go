package replmap_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/replmap"
)

const msgNotifyMemberType = 12 // MSG_NOTIFY_MAPMEMBER

// A replicated map's departure pass tells the members that a is the primary of its
// entries (MSG_NOTIFY_MAPMEMBER, held here); meanwhile a Get on y's copy takes the entry
// over, its MSG_NOTIFY_MAPMEMBER reaching a, which then holds a copy. The pass's
// message, naming a, reaches y after y's: y, the primary, holds a copy of a's from then
// on, and a's pass, seeing the entry taken over, steps aside. Once the pass ended one
// node must be the primary of the entry with its value, every other node holding a copy
// naming it, and a Replicate there reach them. Before, no node was the primary: y's
// Replicate sent nothing. a's pass now sends the members a MSG_NOTIFY_MAPMEMBER naming
// y, and y, whose copy names a, takes it as its own again.
func TestReplicatedGetDuringTheDeparturePassLeavesOnePrimary(t *testing.T) {
	nw := channeltest.NewNetwork()
	hold := &holdSend{typ: msgNotifyMemberType, held: make(chan struct{}), release: make(chan struct{})}
	var once sync.Once
	release := func() { once.Do(func() { close(hold.release) }) }
	// a's channel last: the network tells its members of x's departure in the order
	// they joined, so that y drops x before a's pass holds the others' notices.
	nodes := []*node{newChannel(t, nw), newChannel(t, nw), newChannel(t, nw)}
	a := newChannel(t, nw, hold)
	nodes = append(nodes, a)
	for _, n := range nodes {
		waitChannelMembers(t, n, 3)
	}
	for _, n := range nodes {
		newMap(t, n, replmap.Config{Replicated: true, SendOptions: syncAck})
	}
	for _, n := range nodes {
		start(t, n)
	}
	waitMapMembers(t, nodes, 3)
	const k = "k"
	if _, err := a.m.Put(ctx(t), k, "v"); err != nil {
		t.Fatal(err)
	}
	x, y := nodes[0], nodes[1]
	hold.armed.Store(true)
	killed := make(chan struct{})
	go func() {
		defer close(killed)
		nw.Kill(x.tn) // returns once a's departure pass republished k
	}()
	t.Cleanup(func() { <-killed })
	t.Cleanup(release)
	select {
	case <-hold.held:
	case <-ctx(t).Done():
		t.Fatal("a's departure pass sent no MSG_NOTIFY_MAPMEMBER of k")
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "y dropping x", func() bool { return len(y.m.Members()) == 2 })
	if v, ok, err := y.m.Get(ctx(t), k); err != nil || !ok || v != "v" {
		t.Fatalf("y's Get of k = %#v, %v, %v", v, ok, err)
	}
	release()
	select {
	case <-killed:
	case <-ctx(t).Done():
		t.Fatal("a's departure pass did not end")
	}
	testutil.Eventually(t, testutil.WaitLimit, func() error {
		var primaries []*node
		for _, n := range nodes {
			if v, primary, held := n.m.Peek(k); n != x && held && primary && v == "v" {
				primaries = append(primaries, n)
			}
		}
		if len(primaries) != 1 {
			return fmt.Errorf("%d nodes primary of k, want 1", len(primaries))
		}
		p := primaries[0].ch.LocalMember()
		for _, n := range nodes {
			if n == x || n == primaries[0] {
				continue
			}
			if v, _, held := n.m.Peek(k); !held || v != "v" {
				return fmt.Errorf("%v holds %#v as k's copy, want \"v\"", n.ch.LocalMember(), v)
			}
			if q, ok := replmap.Primary(n.m, k); !ok || q.Key() != p.Key() {
				return fmt.Errorf("%v's copy of k names %v (%v) its primary, want %v", n.ch.LocalMember(), q, ok, p)
			}
		}
		return nil
	})
	if _, primary, _ := y.m.Peek(k); !primary {
		t.Fatal("y, whose Get took k over, is not its primary")
	}
	if _, err := y.m.Put(ctx(t), k, "v2"); err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		if n != x {
			if v, _, _ := n.m.Peek(k); v != "v2" {
				t.Fatalf("%v holds %#v after y's Put, want \"v2\"", n.ch.LocalMember(), v)
			}
		}
	}
}
