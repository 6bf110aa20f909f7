package replmap_test

import (
	"fmt"
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
