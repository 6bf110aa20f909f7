package replmap_test

import (
	"testing"

	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/replmap"
)

// A Put on a THIRD node w (neither the primary a nor the member a's departure pass gives
// the entry) while that pass republishes the entry: a's backup x left, a's pass sent its
// MSG_BACKUP of v1 to y and holds its MSG_PROXY (naming a the primary, y the backup);
// w, which saw x leave, puts v2 with synchronized ACKs (its MSG_REMOVE, then its
// MSG_BACKUP to its backup b, its MSG_PROXY to the others, a among them) and returns
// nil. The pass's MSG_PROXY then reaches w, after w stored its entry, and b (when b is
// not y), after w's MSG_BACKUP: a MSG_PROXY drops the value it finds. Once the pass and
// what it starts ended, the Put's value must be held by one node as the primary and by
// the backup it names, the other nodes proxies naming that primary (settled): w keeps
// the value a's MSG_PROXY drops, and a's pass, stepping aside for w's Put, has w
// take it back and send it again (kept.go). A Get on a then still takes the entry over.
//
// The pass runs on a's membership goroutine: a's channel is made last, so that the
// other nodes drop x before a's pass holds the notices.
func TestPutOnAThirdNodeDuringTheDeparturePass(t *testing.T) {
	t.Run("naming a fourth node its backup", func(t *testing.T) { thirdNodePutDuringPass(t, false) })
	t.Run("naming the pass's backup its backup", func(t *testing.T) { thirdNodePutDuringPass(t, true) })
}

func thirdNodePutDuringPass(t *testing.T, passBackup bool) {
	hold := newSeqHold(1) // 0 the pass's MSG_BACKUP, 1 its MSG_PROXY (held)
	const k = "k"
	p := holdDeparturePass(t, hold, true, k, "v1")
	nodes, a, x, killed := p.nodes, p.a, p.x, p.killed
	y, w, z := passRoles(t, nodes, a, x, k)
	b := z
	if passBackup {
		b = y
	}
	replmap.SetNextBackup(w.m, b.ch.LocalMember())
	if _, err := w.m.Put(ctx(t), k, "v2"); err != nil {
		t.Fatalf("w's Put of k: %v", err)
	}
	if named := replmap.BackupNodes(w.m, k); len(named) != 1 || named[0].Key() != b.ch.LocalMember().Key() {
		t.Fatalf("w's Put named %v k's backup, want %v", named, b.ch.LocalMember())
	}
	hold.releaseAt(1)
	<-killed
	settledWith(t, nodes, x, k, "v2")
	// A later Get on a, a proxy, still takes the entry over, and the node it takes it
	// from keeps no value.
	if v, ok, err := a.m.Get(ctx(t), k); err != nil || !ok || v != "v2" {
		t.Fatalf("a's Get of k = %#v, %v, %v", v, ok, err)
	}
	settledWith(t, nodes, x, k, "v2")
	if _, primary, _ := a.m.Peek(k); !primary {
		t.Fatal("a is not k's primary after its Get")
	}
	for _, n := range nodes {
		if n != x && !replmap.StoredConsistent(n.m) {
			t.Errorf("%v: stored bytes inconsistent", n.ch.LocalMember())
		}
	}
	if s := w.m.Stats(); s.Entries != 1 || s.StoredBytes > 1<<10 || replmap.Held(w.m, k) != nil {
		t.Errorf("w, a proxy after a's Get, holds %v (stats %+v)", replmap.Held(w.m, k), s)
	}
}

// passRoles returns, for a departure pass of a's (x having left, five nodes) that sent
// its MSG_BACKUP of k, y, the member holding it, and w and z, the two other members
// (w the third node to put), once w dropped x.
func passRoles(t *testing.T, nodes []*node, a, x *node, k string) (y, w, z *node) {
	t.Helper()
	y = backupOf(nodes, a, k, x)
	if y == nil {
		t.Fatal("no member holds the pass's MSG_BACKUP of k")
	}
	for _, n := range nodes {
		switch {
		case n == a || n == x || n == y:
		case w == nil:
			w = n
		case z == nil:
			z = n
		}
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "w dropping x", func() bool { return len(w.m.Members()) == 3 })
	return y, w, z
}

// TestPutOnAThirdNodeDuringTheDeparturePass over loopback TCP (synchronized ACKs), the
// departure being x's map Stop, whose MSG_STOP runs a's pass on a's receiving goroutine:
// the Stop returns once the pass did.
func TestPutOnAThirdNodeDuringTheDeparturePassOverTCP(t *testing.T) {
	hold := newSeqHold(1) // 0 the pass's MSG_BACKUP, 1 its MSG_PROXY (held)
	const k = "k"
	p := holdStopPass(t, hold, k, "v1")
	nodes, a, x, stopped := p.nodes, p.a, p.x, p.stopped
	_, w, z := passRoles(t, nodes, a, x, k)
	replmap.SetNextBackup(w.m, z.ch.LocalMember())
	if _, err := w.m.Put(ctx(t), k, "v2"); err != nil {
		t.Fatalf("w's Put of k: %v", err)
	}
	if named := replmap.BackupNodes(w.m, k); len(named) != 1 || named[0].Key() != z.ch.LocalMember().Key() {
		t.Fatalf("w's Put named %v k's backup, want z %v", named, z.ch.LocalMember())
	}
	hold.releaseAt(1)
	if err := await(t, "x's Stop", stopped); err != nil {
		t.Fatalf("x's Stop: %v", err)
	}
	settledWith(t, nodes, x, k, "v2")
}
