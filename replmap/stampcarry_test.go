package replmap_test

import (
	"testing"

	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/replmap"
)

// The stamp of a key's value (stamp.go) names its write: a Put draws one, which the
// backup and the proxies learn from its MSG_BACKUP and MSG_PROXY; a takeover when the
// primary leaves publishes the value with the same stamp; a Put, and a Replicate that
// sends the value, draw a new one, which the other nodes learn in turn.
func TestStampNamesTheWriteNotThePublish(t *testing.T) {
	const k = "k"
	nodes := cluster(t, channeltest.NewNetwork(), 3)
	stamps := func(ns []*node) []uint64 {
		var s []uint64
		for _, n := range ns {
			s = append(s, replmap.Stamp(n.m, k))
		}
		return s
	}
	// same waits until every node of ns has one stamp, not 0 and not in not, and returns it.
	same := func(what string, ns []*node, not ...uint64) uint64 {
		t.Helper()
		var got uint64
		testutil.EventuallyTrue(t, testutil.WaitLimit, what, func() bool {
			s := stamps(ns)
			for _, x := range s {
				if x == 0 || x != s[0] {
					return false
				}
			}
			for _, x := range not {
				if s[0] == x {
					return false
				}
			}
			got = s[0]
			return true
		})
		return got
	}
	if _, err := nodes[0].m.Put(ctx(t), k, "v1"); err != nil {
		t.Fatal(err)
	}
	put := same("the Put's stamp on every node", nodes)
	if err := nodes[0].m.Stop(ctx(t)); err != nil {
		t.Fatal(err)
	}
	rest := nodes[1:]
	waitMapMembers(t, rest, 1)
	var primary *node
	testutil.EventuallyTrue(t, testutil.WaitLimit, "one node the primary of v1 after the takeover", func() bool {
		primary = nil
		for _, n := range rest {
			v, p, ok := n.m.Peek(k)
			if !ok || v != "v1" {
				return false
			}
			if p {
				primary = n
			}
		}
		_, p0, _ := rest[0].m.Peek(k)
		_, p1, _ := rest[1].m.Peek(k)
		return primary != nil && p0 != p1
	})
	if s := stamps(rest); s[0] != put || s[1] != put {
		t.Fatalf("stamps %x after the takeover, want the Put's %x on both", s, put)
	}
	if _, err := primary.m.Put(ctx(t), k, "v2"); err != nil {
		t.Fatal(err)
	}
	put2 := same("a new Put's stamp on both nodes", rest, put)
	if err := primary.m.Replicate(ctx(t), k, true); err != nil {
		t.Fatal(err)
	}
	same("a Replicate's stamp on both nodes", rest, put, put2)
}
