package replmap_test

import (
	"errors"
	"testing"

	"github.com/gotribes/tribes/replmap"
)

// A Get on a THIRD node w (neither the primary a nor y, the member a's departure pass
// gives the entry) while that pass republishes the entry. A lazy map's proxy asks the
// backup nodes it names: w's proxy named x, which left, until the pass's MSG_PROXY named
// y, so w's Get can take the entry over only after that MSG_PROXY reached it, and the
// pass sends no other to w. The hold sends the pass's MSG_PROXY at once to the first
// member it goes to (w) and holds it for the other (z): w's Get asks y, takes the entry
// over (its MSG_NOTIFY_MAPMEMBER to y, its MSG_PROXY to a and z) and returns v; the
// pass's MSG_PROXY then reaches z after w's, naming a, and a's pass, finding the entry
// taken over, corrects z and has w send the value to y again. Once the pass ended one
// node, w, is the primary of v, y its backup holding it, the others proxies naming w:
// no value lost (settledWith). A Get on z while the MSG_PROXY is held finds its proxy
// naming only x: it takes nothing over and returns ErrUnavailable.
func TestGetOnAThirdNodeDuringTheDeparturePass(t *testing.T) {
	hold := newSeqHold(1) // 0 the pass's MSG_BACKUP, 1 its MSG_PROXY (held for z)
	hold.splitFirst = true
	const k = "k"
	p := holdDeparturePass(t, hold, true, k, "v")
	nodes, a, x, killed := p.nodes, p.a, p.x, p.killed
	y := backupOf(nodes, a, k, x)
	if y == nil {
		t.Fatal("no member holds the pass's MSG_BACKUP of k")
	}
	first, ok := hold.firstOf(1)
	if !ok {
		t.Fatal("the pass's MSG_PROXY went to one member only")
	}
	var w, z *node
	for _, n := range nodes {
		switch {
		case n == a || n == x || n == y:
		case n.ch.LocalMember().Key() == first.Key():
			w = n
		default:
			z = n
		}
	}
	if w == nil || z == nil {
		t.Fatalf("the pass's MSG_PROXY went first to %v, not a third node", first)
	}
	if _, _, err := z.m.Get(ctx(t), k); !errors.Is(err, replmap.ErrUnavailable) {
		t.Fatalf("z's Get of k, its proxy naming x only: %v, want ErrUnavailable", err)
	}
	if v, ok, err := w.m.Get(ctx(t), k); err != nil || !ok || v != "v" {
		t.Fatalf("w's Get of k = %#v, %v, %v", v, ok, err)
	}
	hold.releaseAt(1)
	<-killed
	settledWith(t, nodes, x, k, "v")
	if _, primary, held := w.m.Peek(k); !held || !primary {
		t.Fatal("w, whose Get took the entry over, is not k's primary")
	}
	for _, n := range nodes {
		if n != x && !replmap.StoredConsistent(n.m) {
			t.Errorf("%v: stored bytes inconsistent", n.ch.LocalMember())
		}
	}
}
