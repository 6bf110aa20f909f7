package replmap_test

import (
	"slices"
	"testing"

	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/replmap"
)

// c's Put of k, a the primary and b its backup, whose MSG_REMOVE reaches b before a
// full MSG_BACKUP of a's Replicate (read and sent before a took c's MSG_REMOVE), and
// whose own MSG_BACKUP comes after it: b ends the backup of c's value, as it did before
// the clocks (the last publish applied). c heard of a's Put's clock (as a proxy), which
// a's Replicates carry (stamp.go). When a Replicate's clock was one more than a's map's,
// which only b heard of, b ignored c's MSG_BACKUP as older and kept a's value as the
// backup of a, which had dropped its entry, while c, the primary, believed b its
// backup. The messages are delivered to b here as Go nodes send them.
func TestPutsBackupCrossedByTheOldPrimarysReplicateKeepsThePut(t *testing.T) {
	const k = "k"
	nodes := clusterConfig(t, channeltest.NewNetwork(), 3, replmap.Config{SendOptions: syncAck})
	a, b, c := nodes[0], nodes[1], nodes[2]
	am, bm, cm := a.ch.LocalMember(), b.ch.LocalMember(), c.ch.LocalMember()
	replmap.SetNextBackup(a.m, bm)
	if _, err := a.m.Put(ctx(t), k, "a's"); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := a.m.Replicate(ctx(t), k, true); err != nil {
			t.Fatal(err)
		}
	}
	late := replmap.Clock(a.m, k)
	put := replmap.MapClock(c.m) + 1 // c's Put's: one more than the clock c heard of
	if put <= late {
		t.Fatalf("c's Put's clock %d, a's Replicate's %d: want it larger", put, late)
	}
	if err := replmap.ReceiveRemove(b.m, cm, k); err != nil {
		t.Fatal(err)
	}
	if err := replmap.ReceiveBackupClocked(b.m, am, k, "a's replicated", 7, late); err != nil {
		t.Fatal(err)
	}
	if err := replmap.ReceiveBackupClocked(b.m, cm, k, "c's", 8, put); err != nil {
		t.Fatal(err)
	}
	bv, bp, bh := b.m.Peek(k)
	bPrimary, _ := replmap.Primary(b.m, k)
	if !bh || bp || bv != "c's" || bPrimary.Key() != cm.Key() {
		t.Fatalf("b holds %v (held %v, primary %v, named primary %v), want c's backup of c's value", bv, bh, bp, bPrimary)
	}
}

// A departure pass of a's entry, read after a replicated its value and before w's Put of
// the key reached a, whose MSG_BACKUP reaches b, the Put's backup, after the Put's: b
// does not apply it (it names a's value, older than w's Put), as when a did not
// replicate (TestDeparturePassBackupReachingThePutsBackupLateIgnored). When a's
// Replicates raised its clock, which only b heard of, above w's Put's, b applied it:
// w's acknowledged value lost there.
func TestDeparturePassOfAReplicatedValueReachingThePutsBackupLateIgnored(t *testing.T) {
	const k = "k"
	nodes := clusterConfig(t, channeltest.NewNetwork(), 3, replmap.Config{SendOptions: syncAck})
	w, a, b := nodes[0], nodes[1], nodes[2]
	am, bm, wm := a.ch.LocalMember(), b.ch.LocalMember(), w.ch.LocalMember()
	replmap.SetNextBackup(a.m, bm)
	if _, err := a.m.Put(ctx(t), k, "older"); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := a.m.Replicate(ctx(t), k, true); err != nil {
			t.Fatal(err)
		}
	}
	stamp, clock := replmap.Stamp(a.m, k), replmap.Clock(a.m, k)
	replmap.SetNextBackup(w.m, bm)
	if _, err := w.m.Put(ctx(t), k, "put"); err != nil {
		t.Fatal(err)
	}
	if err := replmap.ReceiveBackupClocked(b.m, am, k, "older", stamp, clock); err != nil {
		t.Fatal(err)
	}
	bv, bp, bh := b.m.Peek(k)
	bPrimary, _ := replmap.Primary(b.m, k)
	if !bh || bp || bv != "put" || bPrimary.Key() != wm.Key() {
		t.Fatalf("b holds %v (held %v, primary %v, named %v), want w's backup of the Put's value (pass clock %d, w's Put's %d)",
			bv, bh, bp, bPrimary, clock, replmap.Clock(w.m, k))
	}
}

// A joiner's Put of a key it got by state transfer, whose MSG_REMOVE reaches the backup
// b before a full MSG_BACKUP of the old primary a's Replicate (sent before a took that
// MSG_REMOVE), its own MSG_BACKUP after it: b ends the backup of the joiner's value.
// The donor's state list carries each entry's clock (stamp.go), which the joiner hears
// of: its Put's is larger than a's. When the list carried none, the joiner's map clock
// started at 0, its Put's was smaller, and b ignored its MSG_BACKUP, keeping a's value
// as the backup of a, which had dropped its entry.
func TestJoinersPutCrossedByTheOldPrimarysReplicateKeepsThePut(t *testing.T) {
	const k = "k"
	nw := channeltest.NewNetwork()
	nodes := []*node{newChannel(t, nw), newChannel(t, nw)}
	for _, n := range nodes {
		waitChannelMembers(t, n, 1)
		newMap(t, n, replmap.Config{SendOptions: syncAck})
	}
	for _, n := range nodes {
		start(t, n)
	}
	waitMapMembers(t, nodes, 1)
	a, b := nodes[0], nodes[1]
	am, bm := a.ch.LocalMember(), b.ch.LocalMember()
	for _, key := range []string{"other", k} {
		replmap.SetNextBackup(a.m, bm)
		if _, err := a.m.Put(ctx(t), key, "a's"); err != nil {
			t.Fatal(err)
		}
	}
	late := replmap.Clock(a.m, k) // a's Replicate's
	j := newChannel(t, nw)
	for _, n := range []*node{a, b, j} {
		waitChannelMembers(t, n, 2)
	}
	newMap(t, j, replmap.Config{SendOptions: syncAck})
	start(t, j)
	waitMapMembers(t, []*node{a, b, j}, 2)
	if !slices.Contains(j.m.Keys(), any(k)) {
		t.Fatalf("j's keys %v after its state transfer, want %s", j.m.Keys(), k)
	}
	jm := j.ch.LocalMember()
	put := replmap.MapClock(j.m) + 1 // j's Put's: one more than the clock j heard of
	if put <= late {
		t.Fatalf("j's Put's clock %d, a's Replicate's %d: want it larger", put, late)
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
