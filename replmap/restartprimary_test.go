package replmap_test

import (
	"context"
	"sync"
	"testing"

	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/replmap"
)

// TestRestartedPrimaryBackupTakesOver: A's map is the primary of k, B's its backup. A's
// map restarts without B hearing of it (its MSG_STOP lost): the new map holds k as a
// proxy from its state transfer, naming itself as the primary and B as the backup, and
// B, the only node with the value, went on backing up for a primary that had none. When
// B then left, no node held the value: A's Get found nothing. B now takes k over when
// A's new map sends MSG_START, as if A had left (MadePrimary called), and publishes it
// to a backup, here A's new map, which serves the value once B left.
func TestRestartedPrimaryBackupTakesOver(t *testing.T) {
	nw := channeltest.NewNetwork()
	drop := &dropStop{}
	a := newChannel(t, nw)
	b := newChannel(t, nw, drop)
	var mu sync.Mutex
	var madePrimary []any
	bcfg := replmap.Config{SendOptions: syncAck, MadePrimary: func(_ context.Context, key, _ any) {
		mu.Lock()
		defer mu.Unlock()
		madePrimary = append(madePrimary, key)
	}}
	for n, cfg := range map[*node]replmap.Config{a: {SendOptions: syncAck}, b: bcfg} {
		testutil.EventuallyTrue(t, testutil.WaitLimit, "channel members", func() bool { return len(n.ch.Members()) == 1 })
		newMap(t, n, cfg)
	}
	start(t, a)
	start(t, b)
	waitMapMembers(t, []*node{a, b}, 1)
	if _, err := a.m.Put(ctx(t), "k", "v"); err != nil {
		t.Fatal(err)
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "B backs k up", func() bool { return replmap.Held(b.m, "k") == "v" })

	drop.armed.Store(true)
	if err := a.m.Stop(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if drop.dropped.Load() == 0 || len(b.m.Members()) != 1 {
		t.Fatalf("B's map members after A's lost MSG_STOP: %v (dropped %d), want A still", b.m.Members(), drop.dropped.Load())
	}
	drop.armed.Store(false)
	restarted := &node{ch: a.ch, tn: a.tn}
	newMap(t, restarted, replmap.Config{SendOptions: syncAck})
	start(t, restarted)

	if err := b.m.Stop(ctx(t)); err != nil {
		t.Fatal(err)
	}
	waitMapMembers(t, []*node{restarted}, 0)
	if v, ok, err := restarted.m.Get(ctx(t), "k"); err != nil || !ok || v != "v" {
		t.Errorf("A's get of k after B, which held its value, left = %v, %v, %v; want v", v, ok, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(madePrimary) != 1 || madePrimary[0] != "k" {
		t.Errorf("B's MadePrimary calls: %v, want k once", madePrimary)
	}
}
