package replmap_test

import (
	"testing"

	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/replmap"
)

// A Put on a node that holds no entry of the key sends no MSG_REMOVE, so the entries
// other nodes hold of an earlier write stay, with clocks the node may never have heard
// of: here c, at its MaxEntries, refused a's publishes of y and k, then freed its entry
// and put k. a and b must apply c's publish all the same (c's value is the newer write,
// and c, its primary, is never told otherwise): one primary, c, b its backup, a a
// proxy, and a Get on a returns c's value: the publish is unordered, the entry's clock
// unknown on a and b (stamp.go). With the clocks ordering it, a and b ignored c's
// MSG_PROXY and MSG_BACKUP as older (a's Put of k came after y's, whose clock c never
// heard of): a and c were both primaries, and c's acknowledged value held by c alone.
func TestPutOfANodeHoldingNoEntryAppliedOverEntriesItNeverHeardOf(t *testing.T) {
	nw := channeltest.NewNetwork()
	nodes := []*node{newChannel(t, nw), newChannel(t, nw), newChannel(t, nw)}
	for i, n := range nodes {
		waitChannelMembers(t, n, 2)
		cfg := replmap.Config{SendOptions: syncAck}
		if i == 2 {
			cfg.MaxEntries = 1
		}
		newMap(t, n, cfg)
	}
	for _, n := range nodes {
		start(t, n)
	}
	waitMapMembers(t, nodes, 2)
	a, b, c := nodes[0], nodes[1], nodes[2]
	bm, cm := b.ch.LocalMember(), c.ch.LocalMember()
	if _, err := c.m.Put(ctx(t), "x", "c's"); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"y", "k"} {
		replmap.SetNextBackup(a.m, bm)
		if _, err := a.m.Put(ctx(t), k, "a's"); err != nil {
			t.Fatal(err)
		}
	}
	if got := c.m.Stats().RefusedOverLimit; got != 2 {
		t.Fatalf("c refused %d publishes over its MaxEntries, want 2 (y's and k's proxies)", got)
	}
	if _, err := c.m.Remove(ctx(t), "x"); err != nil {
		t.Fatal(err)
	}
	replmap.SetNextBackup(c.m, bm)
	if _, err := c.m.Put(ctx(t), "k", "c's"); err != nil {
		t.Fatal(err)
	}
	if v, p, _ := c.m.Peek("k"); !p || v != "c's" {
		t.Fatalf("c holds %v (primary %v), want the primary of its Put's value", v, p)
	}
	if v, p, held := a.m.Peek("k"); held {
		t.Fatalf("a holds %v (primary %v) after c's Put, want a proxy of c's entry: two primaries", v, p)
	}
	bv, bp, bh := b.m.Peek("k")
	bPrimary, _ := replmap.Primary(b.m, "k")
	if !bh || bp || bv != "c's" || bPrimary.Key() != cm.Key() {
		t.Fatalf("b holds %v (held %v, primary %v, named primary %v), want c's backup of c's value", bv, bh, bp, bPrimary)
	}
	// The Put's clock is c's own; its receivers hold the entry's as unknown.
	if c0, a0, b0 := replmap.Clock(c.m, "k"), replmap.Clock(a.m, "k"), replmap.Clock(b.m, "k"); c0 == 0 || a0 != 0 || b0 != 0 {
		t.Fatalf("clocks of k: c %d, a %d, b %d; want c's known, a's and b's unknown (0)", c0, a0, b0)
	}
	if g, ok, err := a.m.Get(ctx(t), "k"); err != nil || !ok || g != "c's" {
		t.Fatalf("Get on a: %v, %v, %v, want c's value", g, ok, err)
	}
	for _, n := range nodes {
		if got := n.m.Stats().OlderIgnored; got != 0 {
			t.Fatalf("%v: OlderIgnored %d, want 0", n.ch.LocalMember(), got)
		}
	}
}
