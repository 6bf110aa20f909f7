package replmap_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/mapnotes"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/replmap"
)

// heldDiff is notes whose Diff, once armed, says it was entered and waits for release
// before it takes the changes: a Replicate that read the entry and takes the Diff later.
type heldDiff struct {
	*mapnotes.Notes
	armed                    atomic.Bool
	entered, release, diffed chan struct{}
}

func (h *heldDiff) Diff() ([]byte, error) {
	if !h.armed.CompareAndSwap(true, false) {
		return h.Notes.Diff()
	}
	close(h.entered)
	<-h.release
	defer close(h.diffed)
	return h.Notes.Diff()
}

// heldDiffCodec is mapnotes.Codec sending a heldDiff as its notes.
type heldDiffCodec struct{ mapnotes.Codec }

func (c heldDiffCodec) Encode(v any) (any, error) {
	if h, ok := v.(*heldDiff); ok {
		v = h.Notes
	}
	return c.Codec.Encode(v)
}

// orderBackups is an interceptor that, once armed, orders the next MSG_BACKUP in full and
// the next diff: when the value in full is sent (marshalled), it releases v's held Diff
// and sends the value once the Diff took the changes; the diff goes after it.
type orderBackups struct {
	channel.InterceptorBase
	armed    atomic.Bool
	v        *heldDiff
	full     sync.Once
	fullSent chan struct{}
}

func (o *orderBackups) SendMessage(ctx context.Context, to []channel.Member, msg *channel.Message) error {
	if o.armed.Load() && replmap.MessageType(msg.Data) == msgBackup {
		if replmap.FullValue(msg.Data) {
			first := false
			o.full.Do(func() { first = true })
			if first {
				close(o.v.release)
				wait(o.v.diffed)
				defer close(o.fullSent)
			}
		} else {
			wait(o.fullSent)
		}
	}
	return o.Next().SendMessage(ctx, to, msg)
}

// wait waits for c to be closed, WaitLimit at most (the test then fails on what it finds).
func wait(c chan struct{}) {
	select {
	case <-c:
	case <-time.After(testutil.WaitLimit):
	}
}

// The republish pass a backup's MSG_START makes its primary run sends a Diffable value in
// full; when the value had changes its next Diff held as the pass marshalled it, the next
// Replicate sends it in full again, also when a Replicate that read the entry before the
// pass took that Diff between the pass's marshal and its check of the value (sending it
// to the backup, which so got the changes in the value and in the diff): the backup then
// holds each change once. Before, the pass found the value clean after its send, the next
// Replicate sent nothing, and the backup held the change twice.
func TestRepublishOfDirtyDiffableDiffedMeanwhileSentInFullNext(t *testing.T) {
	nw := channeltest.NewNetwork()
	v := &heldDiff{Notes: mapnotes.New("a"), entered: make(chan struct{}), release: make(chan struct{}),
		diffed: make(chan struct{})}
	order := &orderBackups{v: v, fullSent: make(chan struct{})}
	a, b := newChannel(t, nw, order), newChannel(t, nw)
	for _, n := range []*node{a, b} {
		testutil.EventuallyTrue(t, testutil.WaitLimit, "channel members", func() bool { return len(n.ch.Members()) == 1 })
	}
	newMap(t, a, replmap.Config{Values: heldDiffCodec{}, SendOptions: syncAck})
	newMap(t, b, replmap.Config{Values: mapnotes.Codec{}, SendOptions: syncAck})
	start(t, a)
	start(t, b)
	waitMapMembers(t, []*node{a, b}, 1)
	if _, err := a.m.Put(ctx(t), "k", v); err != nil {
		t.Fatal(err)
	}
	waitItems(t, b, "k", "a")

	// b's MSG_START, twice: the second pass waits for startPassInterval after the first.
	for i := range 2 {
		if _, err := replmap.AnnounceStart(ctx(t), b.m); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			testutil.EventuallyTrue(t, testutil.WaitLimit, "the first pass ends", func() bool { return !replmap.StartPassesRunning(a.m) })
		}
	}
	if err := a.m.Replicate(ctx(t), "k", false); err != nil { // in full, as after a MSG_START
		t.Fatal(err)
	}
	v.Add("x") // not replicated yet
	v.armed.Store(true)
	replicated := make(chan error, 1)
	go func() { replicated <- a.m.Replicate(ctx(t), "k", false) }()
	select {
	case <-v.entered: // the Replicate read the entry
	case err := <-replicated:
		t.Fatalf("Replicate returned (%v) without taking the Diff", err)
	}
	order.armed.Store(true)
	replmap.BeginStop(ctx(t), a.m) // the waiting pass runs now
	if err := <-replicated; err != nil {
		t.Fatal(err)
	}
	select {
	case <-order.fullSent:
	default:
		t.Fatal("the pass sent no value in full")
	}
	order.armed.Store(false)
	if err := a.m.Replicate(ctx(t), "k", false); err != nil {
		t.Fatal(err)
	}
	if err := a.m.Replicate(ctx(t), "k", false); err != nil { // nothing left to send
		t.Fatal(err)
	}
	waitItems(t, b, "k", "a", "x")
}
