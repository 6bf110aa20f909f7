package replmap_test

import (
	"testing"

	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/mapnotes"
	"github.com/gotribes/tribes/replmap"
)

// A Get on the backup of a Diffable value having changes its next Diff holds (the
// application changed the value it holds there) publishes the value in full to the new
// backup, and the node's next Replicate sends it in full again, not as that diff: the new
// backup holds each change once. Before, the diff followed and it held the change twice.
func TestGetOnBackupOfDirtyDiffableNotFollowedByItsDiff(t *testing.T) {
	cfg := replmap.Config{Values: mapnotes.Codec{}, SendOptions: syncAck}
	nodes := clusterConfig(t, channeltest.NewNetwork(), 2, cfg)
	a, b := nodes[0], nodes[1]
	if _, err := a.m.Put(ctx(t), "k", mapnotes.New("a")); err != nil {
		t.Fatal(err)
	}
	waitItems(t, b, "k", "a")
	held, primary, ok := b.m.Peek("k")
	v, isNotes := held.(*mapnotes.Notes)
	if !ok || primary || !isNotes {
		t.Fatalf("the backup's Peek = %#v, primary %v, ok %v", held, primary, ok)
	}
	v.Add("x") // not replicated yet
	if got := get(t, b, "k"); got != v {
		t.Fatalf("Get on the backup = %#v, want the value it held", got)
	}
	waitItems(t, a, "k", "a", "x") // the new backup, from the Get's publish
	if err := b.m.Replicate(ctx(t), "k", false); err != nil {
		t.Fatal(err)
	}
	if err := b.m.Replicate(ctx(t), "k", false); err != nil { // nothing left to send
		t.Fatal(err)
	}
	waitItems(t, a, "k", "a", "x")
}
