package replmap_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/replmap"
)

// gateRemoves holds, once armed, the MSG_REMOVEs sent to the members listed in gates,
// each until a token is put in its member's gate or release is closed; in counts those
// held.
type gateRemoves struct {
	channel.InterceptorBase
	armed   atomic.Bool
	gates   map[channel.MemberKey]chan struct{} // set before arming
	release chan struct{}
	in      atomic.Int64
}

func (g *gateRemoves) SendMessage(ctx context.Context, to []channel.Member, msg *channel.Message) error {
	if g.armed.Load() && replmap.MessageType(msg.Data) == msgRemoveType && len(to) == 1 {
		if gate := g.gates[to[0].Key()]; gate != nil {
			g.in.Add(1)
			select {
			case <-gate:
			case <-g.release:
			case <-ctx.Done():
			}
			g.in.Add(-1)
			if ctx.Err() != nil {
				return ctx.Err()
			}
		}
	}
	return g.Next().SendMessage(ctx, to, msg)
}

// keysBackedUpBy puts keys on a until each of nodes backs up want of them, and returns
// them by node, in the order of nodes.
func keysBackedUpBy(t *testing.T, a *node, want int, nodes ...*node) [][]string {
	t.Helper()
	keys := make([][]string, len(nodes))
	for i := 0; i < 8*want*len(nodes); i++ {
		k := fmt.Sprint("k", i)
		if _, err := a.m.Put(ctx(t), k, "v"); err != nil {
			t.Fatal(err)
		}
		for j, n := range nodes {
			if len(keys[j]) < want && replmap.Held(n.m, k) == "v" {
				keys[j] = append(keys[j], k)
			}
		}
	}
	for j, ks := range keys {
		if len(ks) < want {
			t.Fatalf("%d keys of A's backed up by node %d, want %d", len(ks), j+1, want)
		}
	}
	return keys
}

// Eight backup nodes whose forwarded removals block hold the eight forwarders, and a
// ninth node's queue waits; once one of the blocked sends returns, its goroutine serves
// the waiting queue before the next removal of its own node. Before, a goroutine kept
// its node's queue until it was empty: with more removals queued for the blocked node,
// the ninth node's waited for all of them, each up to a send timeout (here for ever).
func TestForwarderBlockedOnABackupServesAWaitingQueueAfterASend(t *testing.T) {
	const backups = 9
	nw := channeltest.NewNetwork()
	gate := &gateRemoves{release: make(chan struct{}), gates: map[channel.MemberKey]chan struct{}{}}
	var once sync.Once
	release := func() { once.Do(func() { close(gate.release) }) }
	nodes := []*node{newChannel(t, nw, gate)}
	for range backups {
		nodes = append(nodes, newChannel(t, nw))
	}
	for _, n := range nodes {
		waitChannelMembers(t, n, backups)
	}
	for _, n := range nodes {
		newMap(t, n, replmap.Config{})
	}
	for _, n := range nodes {
		start(t, n)
	}
	waitMapMembers(t, nodes, backups)
	t.Cleanup(release) // before the maps stop
	a, blocked, healthy := nodes[0], nodes[1:backups], nodes[backups]
	keys := keysBackedUpBy(t, a, 2, nodes[1:]...)
	for _, n := range blocked {
		gate.gates[n.ch.LocalMember().Key()] = make(chan struct{}, 1)
	}
	gate.armed.Store(true)
	for i := range blocked {
		if err := replmap.ReceiveRemove(a.m, stranger, keys[i][0]); err != nil {
			t.Fatal(err)
		}
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "eight forwards held", func() bool { return gate.in.Load() == 8 })
	for i := range blocked {
		if err := replmap.ReceiveRemove(a.m, stranger, keys[i][1]); err != nil {
			t.Fatal(err)
		}
	}
	k9 := keys[backups-1][0]
	if err := replmap.ReceiveRemove(a.m, stranger, k9); err != nil {
		t.Fatal(err)
	}
	if workers, queues := replmap.Forwarders(a.m); workers != 8 || queues != backups {
		t.Fatalf("%d forwarders, %d queues, want 8 and %d", workers, queues, backups)
	}
	if replmap.Held(healthy.m, k9) != "v" {
		t.Fatal("the ninth node dropped its backup while every forwarder was blocked")
	}
	// One send to the first blocked node returns.
	gate.gates[blocked[0].ch.LocalMember().Key()] <- struct{}{}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "the ninth node dropping A's removed key", func() bool {
		_, _, held := healthy.m.Peek(k9)
		return !held
	})
	if got := replmap.Held(blocked[0].m, keys[0][1]); got != "v" {
		t.Fatalf("the first blocked node's second backup = %#v before the ninth node's removal, want \"v\"", got)
	}
	release()
	for i, n := range blocked {
		for _, k := range keys[i] {
			testutil.EventuallyTrue(t, testutil.WaitLimit, "the blocked node dropping A's removed keys", func() bool {
				_, _, held := n.m.Peek(k)
				return !held
			})
		}
	}
	forwardsDone(t, a)
}

// A backup node's queue of forwarded removals takes at most Config.MaxForwardQueue
// keys: past it a removal is not sent and is counted in Stats.ForwardedRemovesDropped.
// Before, nothing bounded the queue of a node that is slow but still a member. The
// backup node then keeps its backup of the key, for a primary that holds nothing: a Get
// there returns the removed value; a Remove of the key drops it, and a Put of the key
// replaces it.
func TestForwardQueueBoundedDropsCounted(t *testing.T) {
	nw := channeltest.NewNetwork()
	block := &removesTo{held: make(chan struct{}), release: make(chan struct{})}
	var once sync.Once
	release := func() { once.Do(func() { close(block.release) }) }
	a, b := twoMaps(t, nw, replmap.Config{MaxForwardQueue: 2}, replmap.Config{}, block)
	t.Cleanup(release) // before the maps stop
	keys := []string{"k0", "k1", "k2", "k3", "k4"}
	for _, k := range keys {
		if _, err := a.m.Put(ctx(t), k, "v"); err != nil {
			t.Fatal(err)
		}
	}
	bm := b.ch.LocalMember()
	block.target.Store(&bm)
	if err := replmap.ReceiveRemove(a.m, stranger, keys[0]); err != nil {
		t.Fatal(err)
	}
	select {
	case <-block.held:
	case <-ctx(t).Done():
		t.Fatal("A did not forward the removal of its primary to B")
	}
	for _, k := range keys[1:] {
		if err := replmap.ReceiveRemove(a.m, stranger, k); err != nil {
			t.Fatal(err)
		}
	}
	if n := replmap.ForwardQueued(a.m); n != 2 {
		t.Fatalf("%d forwarded removals queued for B, want 2 (MaxForwardQueue)", n)
	}
	if n := a.m.Stats().ForwardedRemovesDropped; n != 2 {
		t.Fatalf("ForwardedRemovesDropped = %d, want 2", n)
	}
	release()
	forwardsDone(t, a)
	for _, k := range keys[:3] {
		if _, _, held := b.m.Peek(k); held {
			t.Fatalf("B holds %s after its forwarded removal", k)
		}
	}
	for _, k := range keys[3:] {
		if got := replmap.Held(b.m, k); got != "v" {
			t.Fatalf("B's backup of %s = %#v, want the value its dropped removal left", k, got)
		}
		if _, _, held := a.m.Peek(k); held {
			t.Fatalf("A holds %s, which another member removed", k)
		}
	}
	if got := get(t, b, "k3"); got != "v" {
		t.Fatalf("B's Get of k3 = %#v, want the removed value it kept", got)
	}
	if _, err := a.m.Remove(ctx(t), "k3"); err != nil {
		t.Fatal(err)
	}
	if _, _, held := b.m.Peek("k3"); held {
		t.Fatal("B holds k3 after a Remove of it")
	}
	if _, err := a.m.Put(ctx(t), "k4", "v2"); err != nil {
		t.Fatal(err)
	}
	if got := replmap.Held(b.m, "k4"); got != "v2" {
		t.Fatalf("B's backup of k4 = %#v after a Put of it, want \"v2\"", got)
	}
	if n := a.m.Stats().ForwardedRemovesDropped; n != 2 {
		t.Fatalf("ForwardedRemovesDropped = %d at the end, want 2", n)
	}
}
