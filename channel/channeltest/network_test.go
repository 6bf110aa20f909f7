package channeltest_test

import (
	"testing"

	"github.com/gotribes/tribes/channel/channeltest"
)

// Isolate cuts every link of the node at once, and only those, and leaves the caller's
// slice alone (its variadic argument may be a sub-slice with room after it).
func TestIsolate(t *testing.T) {
	nw := channeltest.NewNetwork()
	var all []*channeltest.Node
	for range 3 {
		tn, _ := nw.StartChannel(t)
		all = append(all, tn)
	}
	nw.Isolate(all[2], all[:2]...)
	if all[2] == nil {
		t.Fatal("Isolate wrote into the caller's array")
	}
	for i, n := range all[:2] {
		if n.Reaches(all[2].Member()) || all[2].Reaches(n.Member()) {
			t.Errorf("node %d and the isolated node still reach each other", i)
		}
	}
	if !all[0].Reaches(all[1].Member()) {
		t.Error("the link between the other two was cut")
	}
}
