package replmap_test

import (
	"testing"

	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/mapnotes"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/replmap"
)

// A Diffable value that the primary sends in full while it has changes its next Diff
// holds (a Put of a changed value, the republish when its backup leaves, a replicated
// map's state transfer to a joiner) is sent in full again by the next Replicate, not as
// that diff: the node that got the value holds each change once. Before, the diff
// followed and the node held the changes twice.
func TestFullValueOfDirtyDiffableNotFollowedByItsDiff(t *testing.T) {
	cfg := replmap.Config{Values: mapnotes.Codec{}, SendOptions: syncAck}
	t.Run("put", func(t *testing.T) {
		nodes := clusterConfig(t, channeltest.NewNetwork(), 2, cfg)
		v := mapnotes.New("a")
		v.Add("x")
		if _, err := nodes[0].m.Put(ctx(t), "k", v); err != nil {
			t.Fatal(err)
		}
		if err := nodes[0].m.Replicate(ctx(t), "k", false); err != nil {
			t.Fatal(err)
		}
		waitItems(t, nodes[1], "k", "a", "x")
	})
	t.Run("backup left", func(t *testing.T) {
		nodes := clusterConfig(t, channeltest.NewNetwork(), 3, cfg)
		v := mapnotes.New("a")
		if _, err := nodes[0].m.Put(ctx(t), "k", v); err != nil {
			t.Fatal(err)
		}
		b, c := nodes[1], nodes[2]
		if replmap.Held(b.m, "k") == nil {
			b, c = c, b
		}
		v.Add("x") // not replicated yet
		if err := b.m.Stop(ctx(t)); err != nil {
			t.Fatal(err)
		}
		waitItems(t, c, "k", "a", "x") // the republish to the new backup
		if err := nodes[0].m.Replicate(ctx(t), "k", false); err != nil {
			t.Fatal(err)
		}
		waitItems(t, c, "k", "a", "x")
	})
	t.Run("state copy", func(t *testing.T) {
		nw := channeltest.NewNetwork()
		rcfg := cfg
		rcfg.Replicated = true
		a := newChannel(t, nw)
		newMap(t, a, rcfg)
		start(t, a)
		v := mapnotes.New("a")
		if _, err := a.m.Put(ctx(t), "k", v); err != nil {
			t.Fatal(err)
		}
		v.Add("x") // not replicated yet
		j := newChannel(t, nw)
		testutil.EventuallyTrue(t, testutil.WaitLimit, "channel members", func() bool { return len(j.ch.Members()) == 1 })
		newMap(t, j, rcfg)
		start(t, j)
		waitMapMembers(t, []*node{a, j}, 1)
		waitItems(t, j, "k", "a", "x")
		if err := a.m.Replicate(ctx(t), "k", false); err != nil {
			t.Fatal(err)
		}
		waitItems(t, j, "k", "a", "x")
	})
}
