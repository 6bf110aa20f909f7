package replmap_test

import (
	"slices"
	"sync/atomic"
	"testing"

	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/mapnotes"
	"github.com/gotribes/tribes/replmap"
)

// blockingNotes is mapnotes.Codec whose Decode of the notes "x", once armed, signals
// blocked and waits for release: it holds a joiner's applyQueued between two queued
// messages.
type blockingNotes struct {
	mapnotes.Codec
	armed    atomic.Bool
	blocked  chan struct{}
	released chan struct{}
}

func (c *blockingNotes) Decode(v any) (any, error) {
	d, err := c.Codec.Decode(v)
	if n, ok := d.(*mapnotes.Notes); ok && slices.Equal(n.Items(), []string{"x"}) && c.armed.CompareAndSwap(true, false) {
		close(c.blocked)
		<-c.released
	}
	return d, err
}

// A diff that reaches a lazy map's joiner while it applies the messages it queued, for a
// key whose value in full it queued and has applied already, is queued and applied:
// the value is there. Before, the joiner looked for the value in its queue alone, which
// applyQueued had emptied, and refused the diff with ErrDiff (a Go sender's Replicate
// failed; a Java sender, which sends no value in full after a failed diff, lost the
// change on the backup).
func TestDiffWhileQueueAppliedNotRefused(t *testing.T) {
	nw := channeltest.NewNetwork()
	codec := &blockingNotes{blocked: make(chan struct{}), released: make(chan struct{})}
	cfg := replmap.Config{Values: codec, SendOptions: syncAck}
	nodes := clusterConfig(t, nw, 2, replmap.Config{Values: mapnotes.Codec{}, SendOptions: syncAck})
	primary := nodes[0].ch.LocalMember()
	changed := mapnotes.New("a")
	changed.Add("b")
	diff, err := changed.Diff()
	if err != nil {
		t.Fatal(err)
	}
	diffErr := make(chan error, 1)
	joiner := joinWithHeldStateConfig(t, nw, 2, cfg, func(j *node) {
		if err := replmap.DeliverBackup(j.m, primary, "k", mapnotes.New("a")); err != nil {
			t.Errorf("k in full while joining: %v", err)
		}
		if err := replmap.DeliverBackup(j.m, primary, "q", mapnotes.New("x")); err != nil {
			t.Errorf("q in full while joining: %v", err)
		}
		codec.armed.Store(true)
		go func() { // once k is applied and q's decoding waits
			<-codec.blocked
			diffErr <- replmap.DeliverDiff(j.m, primary, "k", diff)
			close(codec.released)
		}()
	})
	if err := <-diffErr; err != nil {
		t.Errorf("a diff for k while the queue that held k in full was applied: %v, want it queued", err)
	}
	n, ok := replmap.Held(joiner.m, "k").(*mapnotes.Notes)
	if !ok || !slices.Equal(n.Items(), []string{"a", "b"}) {
		t.Errorf("the joiner holds %#v under k, want a, b", replmap.Held(joiner.m, "k"))
	}
	if got := joiner.m.Stats().DiffsNotApplied; got != 0 {
		t.Errorf("the joiner counted %d diffs not applied, want 0", got)
	}
}
