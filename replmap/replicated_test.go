package replmap_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/replmap"
)

var replicated = replmap.Config{Replicated: true}

// A put in a replicated map leaves a copy on every node; a get anywhere returns it and
// makes that node the primary everywhere; a remove removes every copy.
func TestReplicatedPutGet(t *testing.T) {
	nodes := clusterConfig(t, channeltest.NewNetwork(), 3, replicated)
	if _, err := nodes[0].m.Put(ctx(t), "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	for i, nd := range nodes {
		if nd.m.Len() != 1 {
			t.Fatalf("node %d holds %d values, want a copy", i, nd.m.Len())
		}
	}
	if got := get(t, nodes[2], "k"); string(got.([]byte)) != "v" {
		t.Fatalf("get = %#v", got)
	}
	for i, nd := range nodes {
		p, ok := replmap.Primary(nd.m, "k")
		if !ok || p.Key() != nodes[2].ch.LocalMember().Key() {
			t.Fatalf("node %d: primary %v (%v), want node 2", i, p.String(), ok)
		}
	}
	if _, err := nodes[1].m.Remove(ctx(t), "k"); err != nil {
		t.Fatal(err)
	}
	for i, nd := range nodes {
		if len(nd.m.Keys()) != 0 {
			t.Fatalf("node %d still has the key", i)
		}
	}
}

// When the primary of a replicated entry leaves, the first of its backup nodes becomes
// the primary and tells the others; the copies stay.
func TestReplicatedPrimaryLeaves(t *testing.T) {
	nodes := clusterConfig(t, channeltest.NewNetwork(), 3, replicated)
	if _, err := nodes[0].m.Put(ctx(t), "k", "v"); err != nil {
		t.Fatal(err)
	}
	if err := nodes[0].m.Stop(ctx(t)); err != nil {
		t.Fatal(err)
	}
	rest := nodes[1:]
	waitMapMembers(t, rest, 1)
	testutil.EventuallyTrue(t, testutil.WaitLimit, "survivors agree on a new primary", func() bool {
		p1, ok1 := replmap.Primary(rest[0].m, "k")
		p2, ok2 := replmap.Primary(rest[1].m, "k")
		return ok1 && ok2 && p1.Key() == p2.Key() &&
			(p1.Key() == rest[0].ch.LocalMember().Key() || p1.Key() == rest[1].ch.LocalMember().Key())
	})
	for i, nd := range rest {
		if nd.m.Len() != 1 || get(t, nd, "k") != "v" {
			t.Fatalf("survivor %d lost the copy", i)
		}
	}
}

// A node starting a replicated map later takes copies of every entry (MSG_STATE_COPY).
func TestReplicatedStateTransfer(t *testing.T) {
	nw := channeltest.NewNetwork()
	nodes := clusterConfig(t, nw, 2, replicated)
	for i := range 4 {
		if _, err := nodes[i%2].m.Put(ctx(t), int64(i), fmt.Sprint("v", i)); err != nil {
			t.Fatal(err)
		}
	}
	joiner := newChannel(t, nw)
	testutil.EventuallyTrue(t, testutil.WaitLimit, "channel members", func() bool { return len(joiner.ch.Members()) == 2 })
	newMap(t, joiner, replicated)
	start(t, joiner)
	if joiner.m.Len() != 4 {
		t.Fatalf("joiner holds %d copies, want 4", joiner.m.Len())
	}
	// A put after the join reaches the joiner too.
	waitMapMembers(t, append(nodes, joiner), 2)
	if _, err := nodes[0].m.Put(ctx(t), int64(9), "v9"); err != nil {
		t.Fatal(err)
	}
	if joiner.m.Len() != 5 || get(t, joiner, int64(9)) != "v9" {
		t.Fatalf("joiner after a put: %d values", joiner.m.Len())
	}
}

// Removed is called on the other nodes, with the key and the value each held, when a
// node removes an entry; not on the node that removed it.
func TestReplicatedRemovedCallback(t *testing.T) {
	nw := channeltest.NewNetwork()
	var mu sync.Mutex
	got := map[int][]string{}
	nodes := make([]*node, 3)
	for i := range nodes {
		nodes[i] = newChannel(t, nw)
	}
	for _, nd := range nodes {
		testutil.EventuallyTrue(t, testutil.WaitLimit, "channel members", func() bool { return len(nd.ch.Members()) == 2 })
	}
	for i, nd := range nodes {
		cfg := replicated
		cfg.Removed = func(key, value any) {
			mu.Lock()
			defer mu.Unlock()
			got[i] = append(got[i], fmt.Sprintf("%v=%s", key, value))
		}
		newMap(t, nd, cfg)
	}
	for _, nd := range nodes {
		start(t, nd)
	}
	waitMapMembers(t, nodes, 2)
	if _, err := nodes[0].m.Put(ctx(t), "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	if _, err := nodes[1].m.Remove(ctx(t), "k"); err != nil {
		t.Fatal(err)
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "Removed on nodes 0 and 2", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got[0]) > 0 && len(got[2]) > 0
	})
	mu.Lock()
	defer mu.Unlock()
	if len(got[0]) != 1 || got[0][0] != "k=v" || len(got[2]) != 1 || got[2][0] != "k=v" || len(got[1]) != 0 {
		t.Fatalf("Removed calls per node: %v; want k=v on nodes 0 and 2, none on node 1", got)
	}
}

// A node whose entry another node took over (its Get) takes it back with its own Get,
// and its Replicate then reaches the other nodes (by its source, Java's ReplicatedMap
// keeps the old primary's entry primary, its backup nodes naming only itself).
func TestReplicatedTakeBackAndReplicate(t *testing.T) {
	nodes := clusterConfig(t, channeltest.NewNetwork(), 2, replicated)
	v := []byte("one")
	if _, err := nodes[0].m.Put(ctx(t), "k", v); err != nil {
		t.Fatal(err)
	}
	get(t, nodes[1], "k") // node 1 becomes the primary
	got := get(t, nodes[0], "k").([]byte)
	if p, ok := replmap.Primary(nodes[1].m, "k"); !ok || p.Key() != nodes[0].ch.LocalMember().Key() {
		t.Fatalf("node 1 sees primary %v (%v), want node 0", p.String(), ok)
	}
	copy(got, "two") // the value held, changed in place
	if err := nodes[0].m.Replicate(ctx(t), "k", true); err != nil {
		t.Fatal(err)
	}
	if v, _, _ := nodes[1].m.Peek("k"); string(v.([]byte)) != "two" {
		t.Fatalf("node 1 holds %q after node 0's replicate, want \"two\"", v)
	}
}
