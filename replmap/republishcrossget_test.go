package replmap_test

import (
	"fmt"
	"os"
	"testing"

	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/replmap"
)

// A Get on the member that the departure's pass on the primary just gave the entry as
// its backup (the pass's MSG_BACKUP applied there, its MSG_PROXY held): the Get takes
// the entry over, as on any backup, and publishes it; the pass's MSG_PROXY, naming that
// member as the backup, reaches the others after. Once both are done one node must be
// the entry's primary with its value, and a member hold the value as the backup it names.
//
// A known defect, not fixed: it fails (two nodes primary of the key: the Get published
// its backup to the pass's node, whose republishKey then made its entry the primary
// again, as the log shows; when the Get's backup is a third member, the pass's
// MSG_PROXY would turn it into a proxy, the Get's primary naming it: reasoned from the
// code, not seen here). The republishes of one key run one after
// the other on a node only; a Get taking the entry over on another node is not ordered
// with them. Run with GOTRIBES_KNOWN_DEFECTS=1.
func TestGetOnTheBackupAPassJustGaveTheEntry(t *testing.T) {
	if os.Getenv("GOTRIBES_KNOWN_DEFECTS") == "" {
		t.Skip("known defect (a Get on another node taking over an entry a departure's pass republishes): set GOTRIBES_KNOWN_DEFECTS=1")
	}
	nw := channeltest.NewNetwork()
	hold := newSeqHold(1) // 0 the pass's MSG_BACKUP, 1 its MSG_PROXY (held)
	a := newChannel(t, nw, hold)
	nodes := []*node{a, newChannel(t, nw), newChannel(t, nw), newChannel(t, nw), newChannel(t, nw)}
	for _, n := range nodes {
		waitChannelMembers(t, n, 4)
	}
	for _, n := range nodes {
		newMap(t, n, replmap.Config{SendOptions: syncAck})
	}
	for _, n := range nodes {
		start(t, n)
	}
	waitMapMembers(t, nodes, 4)
	const k = "k"
	if _, err := a.m.Put(ctx(t), k, "v"); err != nil {
		t.Fatal(err)
	}
	x := backupOf(nodes, a, k)
	if x == nil {
		t.Fatal("no member holds a backup of a's k")
	}
	hold.arm()
	killed := make(chan struct{})
	go func() {
		defer close(killed)
		nw.Kill(x.tn)
	}()
	t.Cleanup(func() {
		hold.releaseAll()
		<-killed
	})
	hold.awaitHeld(t, "a's departure pass's MSG_PROXY of k", 1)
	var y *node
	testutil.EventuallyTrue(t, testutil.WaitLimit, "a member holding the pass's MSG_BACKUP of k", func() bool {
		y = backupOf(nodes, a, k, x)
		return y != nil
	})
	if v, ok, err := y.m.Get(ctx(t), k); err != nil || !ok || v != "v" {
		t.Fatalf("y's Get of k = %#v, %v, %v", v, ok, err)
	}
	t.Logf("a %v, y's Get named as k's backup %v", a.ch.LocalMember().String(), replmap.BackupNodes(y.m, k))
	hold.releaseAt(1)
	<-killed
	testutil.Eventually(t, testutil.WaitLimit, func() error {
		var primaries []*node
		for _, n := range nodes {
			if v, primary, held := n.m.Peek(k); n != x && held && primary && v == "v" {
				primaries = append(primaries, n)
			}
		}
		var valueless []string
		for _, n := range nodes {
			if v, primary, _ := n.m.Peek(k); n != x && primary && v == nil {
				valueless = append(valueless, n.ch.LocalMember().String())
			}
		}
		if len(valueless) > 0 {
			return fmt.Errorf("nodes primary of k without its value: %v", valueless)
		}
		if len(primaries) != 1 {
			return fmt.Errorf("%d nodes primary of k with its value, want 1", len(primaries))
		}
		p := primaries[0]
		named := replmap.BackupNodes(p.m, k)
		var holders []string
		for _, n := range nodes {
			if v, primary, held := n.m.Peek(k); n != x && n != p && held && !primary && v == "v" {
				holders = append(holders, n.ch.LocalMember().String())
			}
		}
		if len(holders) != 1 || len(named) != 1 || named[0].String() != holders[0] {
			return fmt.Errorf("members holding k as a backup: %v, the primary naming %v; want one, named", holders, named)
		}
		return nil
	})
}
