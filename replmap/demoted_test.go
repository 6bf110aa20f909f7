package replmap_test

import (
	"strings"
	"testing"

	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/replmap"
)

// A primary whose entry another node takes over by a Get holds a proxy from then on:
// key, primary and backup, no value. Before, it kept the value it had as the proxy's, a
// copy that no longer changed: counted in its StoredBytes until the key was removed
// (every node a session ever moved away from kept one), returned by its Put and Remove
// as the previous value.
func TestDemotedPrimaryDropsValue(t *testing.T) {
	nodes := cluster(t, channeltest.NewNetwork(), 3)
	old := nodes[0]
	big := strings.Repeat("v", 64<<10)
	if _, err := old.m.Put(ctx(t), "k", big); err != nil {
		t.Fatal(err)
	}
	var proxy *node
	for _, nd := range nodes[1:] {
		if nd.m.Len() == 0 {
			proxy = nd
		}
	}
	if proxy == nil {
		t.Fatal("no proxy of the put")
	}
	if got := get(t, proxy, "k"); got != big {
		t.Fatal("the proxy's get did not return the value")
	}
	if _, isPrimary, _ := proxy.m.Peek("k"); !isPrimary {
		t.Fatal("the proxy's get did not make it the primary")
	}
	if v := replmap.Held(old.m, "k"); v != nil {
		t.Errorf("the former primary, now a proxy, holds a %d-byte value", len(v.(string)))
	}
	if s := old.m.Stats(); s.Entries != 1 || s.StoredBytes > 4<<10 {
		t.Errorf("the former primary's stats %+v: want one entry of a key and members, no 64 KiB value", s)
	}
	if !replmap.StoredConsistent(old.m) {
		t.Error("stored bytes inconsistent")
	}
	if prev, err := old.m.Put(ctx(t), "k", "new"); err != nil || prev != nil {
		t.Errorf("Put on the former primary returned a %T of the value it gave up (err %v), want nil: it holds none", prev, err)
	}
}
