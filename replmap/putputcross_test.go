package replmap_test

import (
	"testing"

	"github.com/gotribes/tribes/replmap"
)

// B put a key, and A's Put of it has sent its MSG_REMOVE and its MSG_BACKUP to its
// backup X (B or C), its MSG_PROXY held, when X's Put of the key runs and returns: X held
// the key, so its Put sends MSG_REMOVE first and then its MSG_BACKUP and MSG_PROXY, as
// Java's put replacing a key does, and they reach A while its Put sends. Before, A's Put
// counted that MSG_REMOVE as X's Remove of the key: it stored nothing and removed the
// key again, dropping X's entry: both Puts returned nil and no node held the key. Now a
// MSG_REMOVE followed by its sender's MSG_BACKUP or MSG_PROXY of the key is that node's
// Put, and A's Put stores its entry: the two Puts, which nothing orders, may leave the
// nodes naming two primaries, as Java's do, but a Get of the key on every node returns
// one of their values.
func TestPutOnAnotherNodeDuringAPutKeepsAValue(t *testing.T) {
	nodes, hold, release := putRemoveCluster(t, msgProxyType)
	a := nodes[0]
	if _, err := nodes[1].m.Put(ctx(t), "k", "v0"); err != nil {
		t.Fatalf("B's Put: %v", err)
	}
	hold.armed.Store(true)
	put := make(chan error, 1)
	go func() {
		_, err := a.m.Put(ctx(t), "k", "va")
		put <- err
	}()
	select {
	case <-hold.held: // A's Put sent its MSG_REMOVE and MSG_BACKUP; its MSG_PROXY waits
	case err := <-put:
		t.Fatalf("A's Put returned (%v) without sending a proxy", err)
	}
	var x *node // A's backup, which holds an entry of the key
	for _, n := range nodes[1:] {
		if v, _, ok := n.m.Peek("k"); ok && v == "va" {
			x = n
		}
	}
	if x == nil {
		t.Fatalf("no node holds A's backup:%s", keyState(nodes))
	}
	if _, err := x.m.Put(ctx(t), "k", "vx"); err != nil {
		t.Fatalf("X's Put: %v", err)
	}
	release()
	if err := await(t, "A's Put", put); err != nil {
		t.Fatalf("A's Put: %v", err)
	}
	state := keyState(nodes)
	for i, n := range nodes {
		v, ok, err := n.m.Get(ctx(t), "k")
		if err != nil || !ok || v != "va" && v != "vx" {
			t.Errorf("node %d: Get of k = %v, %v, %v once A's and X's Puts returned nil, want va or vx:%s", i, v, ok, err, state)
		}
	}
	if n := replmap.KeyReplicatesListed(a.m); n != 0 {
		t.Errorf("A lists %d keys for Put once its Put returned, want 0", n)
	}
}
