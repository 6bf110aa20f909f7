package replmap_test

import (
	"slices"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/replmap"
)

// A joiner whose queue refused the messages of the primary's newer Puts of a key it got
// by state transfer (over its MaxEntries while its state reply was held: joingap_test)
// holds the older entry, its map clock behind the primary's. Its Put of the key sends
// MSG_REMOVE first; a full MSG_BACKUP of the old primary's Replicate, sent before a took
// that MSG_REMOVE, reaches the backup b between it and the Put's MSG_BACKUP: b must end
// the backup of the joiner's value, as at 0fae209 (before the clocks), where b applied
// the messages as they came. The joiner hears of the clocks of the messages it refuses
// (protocol.go's update, join.go's enqueue), and its Put's is larger than a's; before,
// its map clock stayed behind, and b ignored its MSG_BACKUP as older than a's Replicate.
func TestJoinersPutAfterRefusedWritesCrossedByTheOldPrimarysReplicateKeepsThePut(t *testing.T) {
	const k = "k"
	nw := channeltest.NewNetwork()
	nodes := cluster(t, nw, 2)
	a, b := nodes[0], nodes[1]
	am, bm := a.ch.LocalMember(), b.ch.LocalMember()
	replmap.SetNextBackup(a.m, bm)
	if _, err := a.m.Put(ctx(t), k, "a's first"); err != nil {
		t.Fatal(err)
	}
	const limit = 2
	j := joinWithHeldStateConfig(t, nw, 2, replmap.Config{MaxEntries: limit, RPCTimeout: time.Minute, SendOptions: syncAck},
		func(j *node) {
			for _, key := range []string{"q0", "q1", "q2", k, k} {
				replmap.SetNextBackup(a.m, bm)
				if _, err := a.m.Put(ctx(t), key, "a's"); err != nil {
					t.Logf("put %s: %v", key, err)
				}
			}
		})
	if j.m.Stats().RefusedOverLimit == 0 {
		t.Fatalf("joiner stats %+v, want refusals", j.m.Stats())
	}
	if !slices.Contains(j.m.Keys(), any(k)) {
		t.Fatalf("joiner's keys %v, want %s", j.m.Keys(), k)
	}
	late := replmap.Clock(a.m, k)
	jm := j.ch.LocalMember()
	put := replmap.MapClock(j.m) + 1
	if put <= late {
		t.Fatalf("j's Put's clock %d, a's Replicate's %d: want it larger (j heard of a's refused writes)", put, late)
	}
	if err := replmap.ReceiveRemove(b.m, jm, k); err != nil {
		t.Fatal(err)
	}
	if err := replmap.ReceiveBackupClocked(b.m, am, k, "a's replicated", 7, late); err != nil {
		t.Fatal(err)
	}
	if err := replmap.ReceiveBackupClocked(b.m, jm, k, "j's", 8, put); err != nil {
		t.Fatal(err)
	}
	bv, bp, bh := b.m.Peek(k)
	bPrimary, _ := replmap.Primary(b.m, k)
	if !bh || bp || bv != "j's" || bPrimary.Key() != jm.Key() {
		t.Fatalf("b holds %v (held %v, primary %v, named primary %v), want j's backup of j's value", bv, bh, bp, bPrimary)
	}
}
