package replmap_test

import (
	"math"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/replmap"
)

// A member's MSG_BACKUP of a key with clock MaxUint64 (buggy or hostile), naming
// itself the primary, pins the key on its receiver against the real primary's
// Replicates (and takeovers and departure passes of other nodes): their clocks are
// smaller and the forged message named none of their nodes, so olderLocked ignores
// them, where before the clocks the Replicate in full made the receiver its backup
// again. Pinned, not fixed: a receiver cannot tell a forged large clock from a newer
// write crossing (TestPutsBackupCrossedByTheOldPrimarysReplicateKeepsThePut), and a
// member is trusted with values (its MSG_COPY overwrites any key: docs/security.md). A
// Put of the key ends the pin: its MSG_REMOVE drops the entry first.
func TestMaxClockFromAMemberPinsTheKeyUntilAPut(t *testing.T) {
	nodes := clusterConfig(t, channeltest.NewNetwork(), 3, replmap.Config{SendOptions: syncAck})
	a, b, c := nodes[0], nodes[1], nodes[2]
	am, bm, cm := a.ch.LocalMember(), b.ch.LocalMember(), c.ch.LocalMember()
	replmap.SetNextBackup(a.m, bm)
	if _, err := a.m.Put(ctx(t), "k", "a's"); err != nil {
		t.Fatal(err)
	}
	if err := replmap.ReceiveBackupClocked(b.m, cm, "k", "c's", 9, math.MaxUint64); err != nil {
		t.Fatal(err)
	}
	want := func(step, v string, primary channel.Member) {
		t.Helper()
		bv, bp, bh := b.m.Peek("k")
		p, _ := replmap.Primary(b.m, "k")
		if !bh || bp || bv != v || p.Key() != primary.Key() {
			t.Fatalf("%s: b holds %v (held %v, primary %v, named primary %v), want the backup of %v",
				step, bv, bh, bp, p, v)
		}
	}
	if err := a.m.Replicate(ctx(t), "k", true); err != nil {
		t.Fatal(err)
	}
	want("after a's Replicate in full (pinned)", "c's", cm)
	replmap.SetNextBackup(a.m, bm)
	if _, err := a.m.Put(ctx(t), "k", "a's again"); err != nil {
		t.Fatal(err)
	}
	want("after a's Put", "a's again", am)
}
