package replmap_test

import (
	"testing"

	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
)

// In a replicated map, when an entry's primary leaves after the first of its backup
// nodes left without the primary telling the others (here the survivor's node takes no
// messages meanwhile, as when both crash together), the first of the backup nodes still
// in the map takes the entry over. Before, only the first backup node as listed could,
// and it was gone: no node became the primary, and no Replicate of the entry reached
// the other nodes again until some Get took it.
func TestReplicatedTakeoverSkipsDepartedBackupNode(t *testing.T) {
	nw := channeltest.NewNetwork()
	nodes := clusterConfig(t, nw, 3, replicated)
	primary := nodes[0]
	if _, err := primary.m.Put(ctx(t), "k", "v"); err != nil {
		t.Fatal(err)
	}
	// The entry's backup nodes are the primary's map members, in their order.
	first := primary.m.Members()[0].Key()
	var firstNode, survivor *node
	for _, nd := range nodes[1:] {
		if nd.ch.LocalMember().Key() == first {
			firstNode = nd
		} else {
			survivor = nd
		}
	}
	if firstNode == nil || survivor == nil {
		t.Fatal("no node is the first backup node")
	}
	if v, isPrimary, ok := survivor.m.Peek("k"); !ok || isPrimary || v != "v" {
		t.Fatal("the survivor holds no copy")
	}
	survivor.tn.SetMaxMessageSize(1)
	nw.Kill(firstNode.tn)
	testutil.EventuallyTrue(t, testutil.WaitLimit, "the others drop the first backup node", func() bool {
		return len(primary.m.Members()) == 1 && len(survivor.m.Members()) == 1
	})
	nw.Kill(primary.tn)
	testutil.EventuallyTrue(t, testutil.WaitLimit, "the survivor drops the primary", func() bool {
		return len(survivor.m.Members()) == 0
	})
	survivor.tn.SetMaxMessageSize(0)
	if v, isPrimary, ok := survivor.m.Peek("k"); !ok || !isPrimary || v != "v" {
		t.Errorf("the last node holding a copy: %#v, primary %v, held %v; want the value held as primary", v, isPrimary, ok)
	}
}
