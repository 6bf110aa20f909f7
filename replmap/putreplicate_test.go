package replmap_test

import (
	"testing"

	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/mapnotes"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/replmap"
)

// A Put of the same Diffable value while a Replicate of the entry it replaces sends:
// that Replicate took the value's Diff after the Put marshalled the value, so the Put
// found the value clean, and the diff reached the backup after the value in full, which
// held the change already. The backup held the change twice, and no later Replicate
// sent anything to repair it. Now a Put whose replaced entry had a Replicate under way,
// or read since the Put began, has the next Replicate send the value in full.
func TestPutDuringReplicateOfTheSameDiffableSentInFullNext(t *testing.T) {
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

	v.Add("x") // not replicated yet
	v.armed.Store(true)
	replicated := make(chan error, 1)
	go func() { replicated <- a.m.Replicate(ctx(t), "k", false) }()
	select {
	case <-v.entered: // the Replicate read the entry
	case err := <-replicated:
		t.Fatalf("Replicate returned (%v) without taking the Diff", err)
	}
	// The Put's value in full is marshalled with x, the Replicate then takes x as its
	// diff, and the diff goes after the value.
	order.armed.Store(true)
	if _, err := a.m.Put(ctx(t), "k", v); err != nil {
		t.Fatal(err)
	}
	if err := <-replicated; err != nil {
		t.Fatal(err)
	}
	select {
	case <-order.fullSent:
	default:
		t.Fatal("the Put sent no value in full")
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
