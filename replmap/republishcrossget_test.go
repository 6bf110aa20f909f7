package replmap_test

import (
	"fmt"
	"testing"

	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/replmap"
)

// A Get on the member that the departure's pass on the primary just gave the entry as
// its backup (the pass's MSG_BACKUP applied, its MSG_PROXY held): the Get takes
// the entry over, as on any backup, and publishes it, naming the pass's node its backup;
// the pass's MSG_PROXY, naming that member as the backup, reaches the others after. Once
// both are done one node must be the entry's primary with its value, a member hold the
// value as the backup it names, and the others' proxies name that primary, so that a Get
// on one of them leaves one primary too.
//
// It failed before (3 of 3 runs): the pass's republishKey, seeing its publish succeed,
// made its node's entry, a backup of the Get's node by then, the primary again: two
// nodes primary of the key. The pass now leaves an entry another member took over while
// it published to that member, and sends the others a MSG_PROXY naming it.
func TestGetOnTheBackupAPassJustGaveTheEntry(t *testing.T) {
	hold := newSeqHold(1) // 0 the pass's MSG_BACKUP, 1 its MSG_PROXY (held)
	const k = "k"
	p := holdDeparturePass(t, hold, false, k, "v")
	nodes, a, x, killed := p.nodes, p.a, p.x, p.killed
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
	settled(t, nodes, x, k)
	// A Get on a node holding a proxy asks the backup its proxy names: naming the pass's
	// node the primary, it made the Get's node, the backup in its view, a second primary.
	var c *node
	for _, n := range nodes {
		if _, _, held := n.m.Peek(k); n != x && !held && c == nil {
			c = n
		}
	}
	if c == nil {
		t.Fatal("no node holds a proxy of k")
	}
	if v, ok, err := c.m.Get(ctx(t), k); err != nil || !ok || v != "v" {
		t.Fatalf("a proxy's Get of k = %#v, %v, %v", v, ok, err)
	}
	settled(t, nodes, x, k)
}

// settled waits until, x aside, one node of nodes is the primary of k with its value
// "v", none is the primary without it, one other node holds the value as the backup the
// primary names, and every other node holds a proxy naming that primary.
func settled(t *testing.T, nodes []*node, x *node, k string) {
	t.Helper()
	settledWith(t, nodes, x, k, "v")
}

// settledWith is settled for the value want.
func settledWith(t *testing.T, nodes []*node, x *node, k string, want any) {
	t.Helper()
	testutil.Eventually(t, testutil.WaitLimit, func() error {
		var primaries []*node
		for _, n := range nodes {
			if v, primary, held := n.m.Peek(k); n != x && held && primary && v == want {
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
			if v, primary, held := n.m.Peek(k); n != x && n != p && held && !primary && v == want {
				holders = append(holders, n.ch.LocalMember().String())
			}
		}
		if len(holders) != 1 || len(named) != 1 || named[0].String() != holders[0] {
			return fmt.Errorf("members holding k as a backup: %v, the primary naming %v; want one, named", holders, named)
		}
		for _, n := range nodes {
			if _, _, held := n.m.Peek(k); n == x || held {
				continue
			}
			if q, ok := replmap.Primary(n.m, k); !ok || q.Key() != p.ch.LocalMember().Key() {
				return fmt.Errorf("%v's proxy of k names %v (%v) its primary, want %v", n.ch.LocalMember(), q, ok, p.ch.LocalMember())
			}
		}
		return nil
	})
}
