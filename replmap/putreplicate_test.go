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

// The same as a Put replacing the entry, with a Remove of the entry in between: a
// Replicate of the removed entry still sends when the Put stores the same Diffable value
// again (the Put replaces no entry), its diff taken after the Put marshalled the value
// and reaching the backup after it. Before, the Put looked at the entry it replaced only,
// found none and the value clean, and the backup held the change twice for good; now it
// also looks for a Replicate of the key under way, and the next Replicate sends the value
// in full.
func TestPutAfterRemoveDuringReplicateOfTheSameDiffableSentInFullNext(t *testing.T) {
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
	if _, err := a.m.Remove(ctx(t), "k"); err != nil {
		t.Fatal(err)
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "B drops k", func() bool { return replmap.Held(b.m, "k") == nil })
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
	waitItems(t, b, "k", "a", "x")
	if n := replmap.KeyReplicatesListed(a.m); n != 0 {
		t.Errorf("%d keys still tracked for Put once every Replicate and Put returned", n)
	}
}
