package replmap_test

import (
	"errors"
	"sync/atomic"
	"testing"

	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/mapnotes"
	"github.com/gotribes/tribes/replmap"
)

var errDiffFailed = errors.New("diff failed")

// failingDiff is notes whose Diff, once armed, forgets the changes and fails: a value
// that cannot say which of its changes its failed Diff dropped.
type failingDiff struct {
	*mapnotes.Notes
	armed atomic.Bool
}

func (f *failingDiff) Diff() ([]byte, error) {
	if !f.armed.CompareAndSwap(true, false) {
		return f.Notes.Diff()
	}
	_, _ = f.Notes.Diff()
	return nil, errDiffFailed
}

// failingDiffCodec is mapnotes.Codec sending a failingDiff as its notes.
type failingDiffCodec struct{ mapnotes.Codec }

func (c failingDiffCodec) Encode(v any) (any, error) {
	if f, ok := v.(*failingDiff); ok {
		v = f.Notes
	}
	return c.Codec.Encode(v)
}

// A Replicate whose Diff failed returns the error, and the next Replicate sends the value
// in full, as after a failed send: the backup holds the changes the failed Diff may have
// dropped. Before, the next Replicate sent a diff of the later changes only, and the
// backup never got the earlier one.
func TestDiffErrorSendsInFullNext(t *testing.T) {
	nw := channeltest.NewNetwork()
	a, b := twoMaps(t, nw, replmap.Config{Values: failingDiffCodec{}, SendOptions: syncAck},
		replmap.Config{Values: mapnotes.Codec{}, SendOptions: syncAck})
	v := &failingDiff{Notes: mapnotes.New("a")}
	if _, err := a.m.Put(ctx(t), "k", v); err != nil {
		t.Fatal(err)
	}
	waitItems(t, b, "k", "a")

	v.Add("x")
	v.armed.Store(true)
	if err := a.m.Replicate(ctx(t), "k", false); !errors.Is(err, errDiffFailed) {
		t.Fatalf("Replicate with a failing Diff: %v, want %v", err, errDiffFailed)
	}
	v.Add("y")
	if err := a.m.Replicate(ctx(t), "k", false); err != nil {
		t.Fatal(err)
	}
	waitItems(t, b, "k", "a", "x", "y")
	v.Add("z") // a diff again
	if err := a.m.Replicate(ctx(t), "k", false); err != nil {
		t.Fatal(err)
	}
	waitItems(t, b, "k", "a", "x", "y", "z")
}
