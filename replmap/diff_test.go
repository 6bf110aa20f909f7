package replmap_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/mapnotes"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/jserial"
	"github.com/gotribes/tribes/replmap"
)

// waitItems waits until nd holds notes under key with the items want.
func waitItems(t *testing.T, nd *node, key string, want ...string) {
	t.Helper()
	testutil.Eventually(t, testutil.WaitLimit, func() error {
		n, ok := replmap.Held(nd.m, key).(*mapnotes.Notes)
		if !ok {
			return fmt.Errorf("holds %#v, want notes", replmap.Held(nd.m, key))
		}
		if got := n.Items(); !slices.Equal(got, want) {
			return fmt.Errorf("holds %q, want %q", got, want)
		}
		return nil
	})
}

// A Diffable value changed on its primary reaches its backup as a diff (lazy map) and
// every copy (replicated map); a proxy's Get then returns the changed value from the
// backup.
func TestReplicateDiff(t *testing.T) {
	for _, replicated := range []bool{false, true} {
		t.Run(fmt.Sprintf("replicated=%v", replicated), func(t *testing.T) {
			nodes := clusterConfig(t, channeltest.NewNetwork(), 3,
				replmap.Config{Replicated: replicated, Values: mapnotes.Codec{}, SendOptions: syncAck})
			v := mapnotes.New("a")
			if _, err := nodes[0].m.Put(ctx(t), "k", v); err != nil {
				t.Fatal(err)
			}
			v.Add("b")
			v.Add("c")
			if err := nodes[0].m.Replicate(ctx(t), "k", false); err != nil {
				t.Fatal(err)
			}
			if v.Dirty() {
				t.Fatal("value still dirty after Replicate")
			}
			var proxies []*node
			for _, nd := range nodes[1:] {
				if replmap.Held(nd.m, "k") == nil {
					proxies = append(proxies, nd)
					continue
				}
				waitItems(t, nd, "k", "a", "b", "c")
			}
			if want := map[bool]int{false: 1, true: 0}[replicated]; len(proxies) != want {
				t.Fatalf("%d proxies, want %d", len(proxies), want)
			}
			for _, nd := range proxies {
				n, ok := get(t, nd, "k").(*mapnotes.Notes)
				if !ok || !slices.Equal(n.Items(), []string{"a", "b", "c"}) {
					t.Fatalf("proxy get = %#v", get(t, nd, "k"))
				}
			}
			for i, nd := range nodes {
				if s := nd.m.Stats(); s.DiffsNotApplied != 0 {
					t.Fatalf("node %d: %d diffs not applied", i, s.DiffsNotApplied)
				}
			}
		})
	}
}

// A diff for a value that is not a Diffable (the backup has no Values codec) leaves the
// value as it was and is counted; the sender's Replicate succeeds, as Java's backup
// logs a diff it cannot apply. A complete Replicate of a value that is not a Diffable
// sends it in full.
func TestReplicateDiffNotDiffable(t *testing.T) {
	primary, backup := pair(t, replmap.Config{Values: mapnotes.Codec{}})
	v := mapnotes.New("a")
	if _, err := primary.m.Put(ctx(t), "k", v); err != nil {
		t.Fatal(err)
	}
	v.Add("b")
	if err := primary.m.Replicate(ctx(t), "k", false); err != nil {
		t.Fatal(err)
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "diff counted",
		func() bool { return backup.m.Stats().DiffsNotApplied == 1 })
	if o, ok := replmap.Held(backup.m, "k").(*jserial.Object); !ok || o.Class.Name != mapnotes.Class.Name {
		t.Fatalf("backup holds %#v, want a MapNotes object", replmap.Held(backup.m, "k"))
	}

	s := []byte("old") // changed in place on the primary
	if _, err := primary.m.Put(ctx(t), "s", s); err != nil {
		t.Fatal(err)
	}
	s[0] = 'n'
	if err := primary.m.Replicate(ctx(t), "s", false); err != nil {
		t.Fatal(err)
	}
	if got := replmap.Held(backup.m, "s"); string(got.([]byte)) != "old" {
		t.Fatalf("backup holds %q after an incomplete Replicate, want old", got)
	}
	if err := primary.m.Replicate(ctx(t), "s", true); err != nil {
		t.Fatal(err)
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "full value replicated",
		func() bool { return string(replmap.Held(backup.m, "s").([]byte)) == "nld" })
}

// Diff bytes the held value cannot apply are an error wrapping ErrDiff, counted, and
// leave the value as it was.
func TestReceiveBadDiff(t *testing.T) {
	nodes := clusterConfig(t, channeltest.NewNetwork(), 2, replmap.Config{Values: mapnotes.Codec{}, SendOptions: syncAck})
	from := nodes[1].ch.LocalMember()
	m := nodes[0].m
	java, err := mapnotes.Codec{}.Encode(mapnotes.New("a"))
	if err != nil {
		t.Fatal(err)
	}
	if err := replmap.ReceiveBackup(m, from, "k", java); err != nil {
		t.Fatal(err)
	}
	wrongType, err := jserial.Marshal(int32(7))
	if err != nil {
		t.Fatal(err)
	}
	for i, diff := range [][]byte{nil, {0xAC, 0xED, 0, 5, 0x74, 0xFF}, wrongType} {
		err := replmap.ReceiveDiff(m, from, "k", diff)
		if !errors.Is(err, replmap.ErrDiff) {
			t.Fatalf("diff %d: err = %v, want ErrDiff", i, err)
		}
		if got := m.Stats().DiffsNotApplied; got != uint64(i+1) {
			t.Fatalf("diff %d: %d diffs not applied", i, got)
		}
		waitItems(t, nodes[0], "k", "a")
	}
	good, err := jserial.Marshal([]any{"b"})
	if err != nil {
		t.Fatal(err)
	}
	if err := replmap.ReceiveDiff(m, from, "k", good); err != nil {
		t.Fatal(err)
	}
	waitItems(t, nodes[0], "k", "a", "b")
}
