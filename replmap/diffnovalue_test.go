package replmap_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/mapnotes"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/replmap"
)

// A diff for a key the node holds no value of is not applied and creates nothing: its
// error wraps ErrDiff, so that a synchronized-ack sender's Replicate fails and the next
// one sends the value in full. Here a joiner of a replicated map lost the state
// transfer's reply (beyond its transport's frame limit) and gets a diff of the key from
// its primary. Before, the joiner made a copy entry without a value out of the diff; the
// joiner's Get of the key then made it the primary, with no value, everywhere: it
// returned nil as the value, and the node that held the value was no longer the
// primary, so its changes stopped replicating. The primary's next Replicate after the
// join sends the value in full (TestReplicatedDiffBeforeSnapshotAppliedOnce), and the
// joiner holds it then.
func TestDiffForNoValueRefused(t *testing.T) {
	nw := channeltest.NewNetwork()
	cfg := replmap.Config{Replicated: true, Values: mapnotes.Codec{}, SendOptions: syncAck}
	a := newChannel(t, nw)
	newMap(t, a, cfg)
	start(t, a)
	v := mapnotes.New("a")
	if _, err := a.m.Put(ctx(t), "k", v); err != nil {
		t.Fatal(err)
	}
	if _, err := a.m.Put(ctx(t), "big", strings.Repeat("x", 64<<10)); err != nil {
		t.Fatal(err)
	}
	j := newChannel(t, nw)
	testutil.EventuallyTrue(t, testutil.WaitLimit, "channel members", func() bool { return len(j.ch.Members()) == 1 })
	jcfg := cfg
	jcfg.RPCTimeout = 2 * time.Second // how long the joiner waits for the lost state reply
	newMap(t, j, jcfg)
	j.tn.SetMaxMessageSize(16 << 10) // the state reply, with the big value, is lost
	start(t, j)
	j.tn.SetMaxMessageSize(0)
	waitMapMembers(t, []*node{a, j}, 1)
	if keys := j.m.Keys(); len(keys) != 0 {
		t.Fatalf("the joiner got keys %v, want none: the state reply should have been lost", keys)
	}

	v.Add("b")
	changed := mapnotes.New("a")
	changed.Add("b")
	diff, err := changed.Diff()
	if err != nil {
		t.Fatal(err)
	}
	if err := replmap.DeliverDiff(j.m, a.ch.LocalMember(), "k", diff); !errors.Is(err, replmap.ErrDiff) {
		t.Errorf("a diff the joiner could not apply: %v, want an error wrapping ErrDiff (a FAIL_ACK)", err)
	}
	if keys := j.m.Keys(); len(keys) != 0 {
		t.Errorf("the joiner made entries %v out of a diff for a value it does not hold", keys)
	}
	if got := j.m.Stats().DiffsNotApplied; got != 1 {
		t.Errorf("the joiner counted %d diffs not applied, want 1", got)
	}
	// The primary's next Replicate sends the value in full.
	if err := a.m.Replicate(ctx(t), "k", false); err != nil {
		t.Fatalf("Replicate after the join: %v", err)
	}
	n, ok := get(t, j, "k").(*mapnotes.Notes)
	if !ok || !slices.Equal(n.Items(), []string{"a", "b"}) {
		t.Fatalf("the joiner's get = %#v, want the notes a, b", get(t, j, "k"))
	}
}
