package replmap_test

import (
	"errors"
	"testing"

	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/replmap"
)

// A Put waiting for a stuck Remove of its key (TestPutDuringAStuckRemoveStoresAfterIt)
// when the map stops. Before, once the Remove returned, the Put went on in the stopped
// map: it stored its entry there (the map's members gone, it sent nothing) and returned
// nil, a value no node held. Now it returns ErrNotStarted, having stored and sent
// nothing, as a Put made after Stop does.
func TestPutWaitingForAStuckRemoveWhenTheMapStops(t *testing.T) {
	nodes, hold, release := putRemoveCluster(t, msgRemoveType)
	a := nodes[0]
	removed := heldRemove(t, a, hold)
	put := make(chan error, 1)
	go func() {
		_, err := a.m.Put(ctx(t), "k", "v")
		put <- err
	}()
	testutil.EventuallyTrue(t, testutil.WaitLimit, "A's Put takes the key's lock", func() bool { return replmap.KeyLockRefs(a.m, "k") == 1 })
	if err := a.m.Stop(ctx(t)); err != nil {
		t.Fatalf("A's Stop: %v", err)
	}
	release()
	if err := await(t, "A's Remove", removed); err != nil {
		t.Logf("A's Remove: %v", err)
	}
	if err := await(t, "A's Put", put); !errors.Is(err, replmap.ErrNotStarted) {
		t.Errorf("A's Put, its map stopped while it waited for the Remove: %v, want ErrNotStarted", err)
	}
	if _, _, held := a.m.Peek("k"); held {
		t.Errorf("A's stopped map holds k")
	}
	for i, n := range nodes[1:] {
		if keys := n.m.Keys(); len(keys) != 0 {
			t.Errorf("node %d holds %v", i+1, keys)
		}
	}
	if n := replmap.KeyReplicatesListed(a.m); n != 0 {
		t.Errorf("A lists %d keys for Put once its Put returned, want 0", n)
	}
}
