package replmap_test

import (
	"context"
	"slices"
	"sync"
	"testing"

	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/replmap"
)

// A primary whose map restarts without its backup hearing of it (its MSG_STOP lost) holds
// no value of its entries any more: the new map's state gives it proxies, still naming it
// the primary. Its MSG_START makes the backup take them over, as that MSG_STOP would have
// (MadePrimary called), and publish them to a backup, here the restarted map, so that it
// serves them once the former backup leaves. Before, the backup kept naming the restarted
// node as the primary, and once the backup left no node held the value: the restarted
// node's Get failed.
func TestRestartedPrimaryEntriesTakenOver(t *testing.T) {
	nw := channeltest.NewNetwork()
	drop := &dropStop{}
	a := newChannel(t, nw, drop)
	b := newChannel(t, nw)
	var mu sync.Mutex
	var madePrimary []any
	for _, n := range []*node{a, b} {
		testutil.EventuallyTrue(t, testutil.WaitLimit, "channel members", func() bool { return len(n.ch.Members()) == 1 })
	}
	newMap(t, a, replmap.Config{MadePrimary: func(_ context.Context, key, _ any) {
		mu.Lock()
		madePrimary = append(madePrimary, key)
		mu.Unlock()
	}})
	newMap(t, b, replmap.Config{})
	start(t, a)
	start(t, b)
	waitMapMembers(t, []*node{a, b}, 1)
	if _, err := b.m.Put(ctx(t), "k", "v"); err != nil {
		t.Fatal(err)
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "A backs k up", func() bool { return replmap.Held(a.m, "k") == "v" })

	drop.armed.Store(true)
	if err := b.m.Stop(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if drop.dropped.Load() == 0 || len(a.m.Members()) != 1 {
		t.Fatalf("A's map members after B's lost MSG_STOP: %v (dropped %d), want B still", a.m.Members(), drop.dropped.Load())
	}
	drop.armed.Store(false)
	restarted := &node{ch: b.ch, tn: b.tn}
	newMap(t, restarted, replmap.Config{})
	start(t, restarted)
	testutil.EventuallyTrue(t, testutil.WaitLimit, "the restarted map backs k up", func() bool { return replmap.Held(restarted.m, "k") == "v" })
	// The pass calls MadePrimary once its MSG_BACKUP is sent: the restarted map may
	// hold the value first.
	testutil.EventuallyTrue(t, testutil.WaitLimit, "A's MadePrimary call", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(madePrimary) > 0
	})
	mu.Lock()
	made := slices.Clone(madePrimary)
	mu.Unlock()
	if !slices.Equal(made, []any{"k"}) {
		t.Errorf("A's MadePrimary calls: %v, want k once", made)
	}

	if err := a.m.Stop(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if got := get(t, restarted, "k"); got != "v" {
		t.Fatalf("the restarted node's Get after A left = %#v, want v", got)
	}
}
