package replmap_test

import (
	"context"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/replmap"
)

// B's Config.Removed, called for A's removal of one key, gets another key B backs up
// from the same map, with a context of its own (Removed has none to pass on): the Get
// takes that entry over and returns its value while Removed runs, and the MadePrimary
// call it makes follows. Before, the Get waited for its MadePrimary call, queued behind
// the Removed call under way on its own goroutine, until its context ended: for ever
// without a deadline, and with it the goroutine that received A's MSG_REMOVE (A's
// Remove, with synchronized ACKs, waited as long).
func TestGetFromRemovedDoesNotWaitForItself(t *testing.T) {
	nw := channeltest.NewNetwork()
	a, b := newChannel(t, nw), newChannel(t, nw)
	for _, n := range []*node{a, b} {
		testutil.EventuallyTrue(t, testutil.WaitLimit, "channel members", func() bool { return len(n.ch.Members()) == 1 })
	}
	type result struct {
		v   any
		err error
	}
	got := make(chan result, 1)
	made := make(chan any, 2)
	newMap(t, a, replmap.Config{SendOptions: syncAck})
	newMap(t, b, replmap.Config{SendOptions: syncAck,
		MadePrimary: func(_ context.Context, key, _ any) { made <- key },
		Removed: func(key, _ any) {
			if key != "k" {
				return
			}
			// A context of the application's: bounded here only so that the test ends
			// when the Get waits for itself.
			c, cancel := context.WithTimeout(context.Background(), testutil.WaitLimit)
			defer cancel()
			v, _, err := b.m.Get(c, "other")
			got <- result{v, err}
		}})
	start(t, a)
	start(t, b)
	waitMapMembers(t, []*node{a, b}, 1)
	for _, k := range []string{"k", "other"} {
		if _, err := a.m.Put(ctx(t), k, k+"-v"); err != nil {
			t.Fatal(err)
		}
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "B backs both keys up", func() bool {
		return replmap.Held(b.m, "k") == "k-v" && replmap.Held(b.m, "other") == "other-v"
	})
	removed := make(chan error, 1)
	go func() {
		_, err := a.m.Remove(ctx(t), "k")
		removed <- err
	}()
	select {
	case r := <-got:
		if r.err != nil || r.v != "other-v" {
			t.Fatalf("the Get in Removed = %#v, %v; want other-v", r.v, r.err)
		}
	case <-time.After(testutil.WaitLimit / 2):
		t.Fatal("the Get in Removed has not returned: it waits for its own MadePrimary call, queued behind the Removed call it runs in")
	}
	select {
	case key := <-made:
		if key != "other" {
			t.Errorf("MadePrimary(%v), want other", key)
		}
	case <-time.After(testutil.WaitLimit):
		t.Error("B's MadePrimary was not called for other")
	}
	if err := <-removed; err != nil {
		t.Fatal(err)
	}
	if v, primary, ok := b.m.Peek("other"); !ok || !primary || v != "other-v" {
		t.Errorf("B holds other = %#v (primary %v, held %v), want its value as primary", v, primary, ok)
	}
}
