package replmap_test

import (
	"fmt"
	"testing"

	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/replmap"
)

// A member that puts entries while a joiner waits for its state, the joiner backing one
// of them up, and then stops its map: the joiner applies the member's MSG_STOP after the
// MSG_BACKUP it queued before, so it takes over the entry it backs up (MadePrimary) and
// holds it as its primary. Before, the MSG_STOP was applied as it came, before the queued
// backup: the joiner kept a backup whose primary had left, never promoted.
func TestStopDuringStateTransferAfterQueuedBackup(t *testing.T) {
	nw := channeltest.NewNetwork()
	nodes := cluster(t, nw, 2)
	for i := range 2 {
		if _, err := nodes[i].m.Put(ctx(t), fmt.Sprint("k", i), int32(i)); err != nil {
			t.Fatal(err)
		}
	}
	made := &madePrimary{}
	joiner := joinWithHeldStateConfig(t, nw, 2, replmap.Config{MadePrimary: made.add}, func(*node) {
		// Two puts in a row: the joiner, the first node's second map member from its
		// MSG_START on, backs one of them up.
		for i := 2; i < 4; i++ {
			if _, err := nodes[0].m.Put(ctx(t), fmt.Sprint("k", i), int32(i)); err != nil {
				t.Fatal(err)
			}
		}
		if err := nodes[0].m.Stop(ctx(t)); err != nil {
			t.Fatal(err)
		}
	})
	stopped, local := nodes[0].ch.LocalMember(), joiner.ch.LocalMember()
	var promoted []string
	for i := range 4 {
		k := fmt.Sprint("k", i)
		p, ok := replmap.Primary(joiner.m, k)
		switch {
		case ok && p.Key() == stopped.Key():
			t.Errorf("%s on the joiner: its primary is the member that stopped (held value %v)", k, replmap.Held(joiner.m, k))
		case ok && p.Key() == local.Key():
			promoted = append(promoted, k)
		}
		if got := get(t, nodes[1], k); got != int32(i) {
			t.Errorf("%s on the remaining member = %#v", k, got)
		}
	}
	if len(promoted) == 0 || made.count() != len(promoted) {
		t.Errorf("the joiner is the primary of %v, MadePrimary called %d times; want the entry it backed up for the stopped member, and one call",
			promoted, made.count())
	}
}
