package replmap_test

import (
	"testing"

	"github.com/gotribes/tribes/channel/channeltest"
)

// Remove deletes the key everywhere (MSG_REMOVE to every map member) also from a node
// that does not know it: one that missed the key's MSG_PROXY (publish only logs a failed
// proxy send), joined after a put it missed, or refused the proxy at MaxEntries (Go's
// limit). Otherwise a logout (backup.Manager.Invalidate) reaching such a node would leave
// the session alive on the others. Java 10.1 sends nothing there (Tomcat commit
// 170573f4, "No need to notify if there was no entry"); Go departs from it.
func TestRemoveOfKeyNotHeldLocally(t *testing.T) {
	nw := channeltest.NewNetwork()
	nodes := cluster(t, nw, 3)
	late := nodes[2]
	late.tn.SetMaxMessageSize(1) // node 2 misses the put's messages
	if _, err := nodes[0].m.Put(ctx(t), "k", "v"); err != nil {
		t.Fatal(err)
	}
	late.tn.SetMaxMessageSize(0)
	if n := len(late.m.Keys()); n != 0 {
		t.Fatalf("node 2 knows %d keys, want 0 (it missed the put)", n)
	}
	if _, err := late.m.Remove(ctx(t), "k"); err != nil {
		t.Fatalf("remove: %v", err)
	}
	for i, nd := range nodes[:2] {
		if v, ok, err := nd.m.Get(ctx(t), "k"); ok || err != nil {
			t.Errorf("node %d still has k = %#v (err %v) after node 2's Remove", i, v, err)
		}
	}
}
