package replmap_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/mapnotes"
	"github.com/gotribes/tribes/replmap"
)

// A diff that reaches a joiner of a lazy map while it waits for its state, for a key of
// which it has no value queued (a primary that still names this node as the backup of
// an earlier map here: a restart its MSG_STOP did not announce), is refused as it comes
// with an error wrapping ErrDiff, so that the sender's synchronized-ack Replicate fails
// and its next one sends the value in full. Before, it was queued and acknowledged, then
// not applied after the state (which holds the key as a proxy): the sender's Replicate
// returned nil, its changes on no other node. A diff after a value queued in full for
// its key is queued and applied after it.
func TestDiffToJoinerWithoutQueuedValueRefused(t *testing.T) {
	nw := channeltest.NewNetwork()
	cfg := replmap.Config{Values: mapnotes.Codec{}, SendOptions: syncAck}
	nodes := clusterConfig(t, nw, 2, cfg)
	if _, err := nodes[0].m.Put(ctx(t), "k", mapnotes.New("a")); err != nil {
		t.Fatal(err)
	}
	primary := nodes[0].ch.LocalMember()
	changed := mapnotes.New("a")
	changed.Add("b")
	diff, err := changed.Diff()
	if err != nil {
		t.Fatal(err)
	}
	var refused, queued error
	joiner := joinWithHeldStateConfig(t, nw, 2, cfg, func(j *node) {
		refused = replmap.DeliverDiff(j.m, primary, "k", diff)
		if err := replmap.DeliverBackup(j.m, primary, "q", mapnotes.New("x")); err != nil {
			t.Errorf("a value in full while joining: %v", err)
		}
		queued = replmap.DeliverDiff(j.m, primary, "q", diff)
	})
	if !errors.Is(refused, replmap.ErrDiff) {
		t.Errorf("a diff for a key without a value queued, while joining: %v, want an error wrapping ErrDiff", refused)
	}
	if queued != nil {
		t.Errorf("a diff after the key's value in full, while joining: %v, want it queued", queued)
	}
	if got := joiner.m.Stats().DiffsNotApplied; got != 1 {
		t.Errorf("the joiner counted %d diffs not applied, want 1", got)
	}
	if v := replmap.Held(joiner.m, "k"); v != nil {
		t.Errorf("the joiner holds %#v under k, want a proxy", v)
	}
	n, ok := replmap.Held(joiner.m, "q").(*mapnotes.Notes)
	if !ok || !slices.Equal(n.Items(), []string{"x", "b"}) {
		t.Errorf("the joiner holds %#v under q, want the queued value with the diff applied: x, b", replmap.Held(joiner.m, "q"))
	}
}
