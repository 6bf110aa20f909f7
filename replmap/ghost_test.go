package replmap_test

import (
	"testing"

	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
)

// A proxy whose primary and backup have both left holds the key of a value no node has
// any more: it is dropped, whichever of the two left first. Here the backup leaves
// first, while the proxy's node takes no messages, so that the primary cannot make it
// the new backup; then the primary leaves. Before, only a proxy whose backup left after
// its primary was dropped: this one stayed, its key listed by Keys and handed to every
// joiner by state transfer, and each Get of it failed with ErrUnavailable (asking the
// departed backup) instead of finding no key.
func TestProxyDroppedWhenPrimaryAndBackupLeft(t *testing.T) {
	nw := channeltest.NewNetwork()
	nodes := cluster(t, nw, 3)
	primary := nodes[0]
	if _, err := primary.m.Put(ctx(t), "k", "v"); err != nil {
		t.Fatal(err)
	}
	backup, proxy := nodes[1], nodes[2]
	if backup.m.Len() != 1 {
		backup, proxy = proxy, backup
	}
	if backup.m.Len() != 1 || proxy.m.Len() != 0 || len(proxy.m.Keys()) != 1 {
		t.Fatal("want one backup and one proxy of the put")
	}
	proxy.tn.SetMaxMessageSize(1) // the proxy's node loses every message for a while
	nw.Kill(backup.tn)
	testutil.EventuallyTrue(t, testutil.WaitLimit, "the others drop the dead backup", func() bool {
		return len(primary.m.Members()) == 1 && len(proxy.m.Members()) == 1
	})
	if _, isPrimary, ok := primary.m.Peek("k"); !ok || !isPrimary {
		t.Fatal("the primary lost its entry")
	}
	nw.Kill(primary.tn)
	testutil.EventuallyTrue(t, testutil.WaitLimit, "the proxy drops the dead primary", func() bool {
		return len(proxy.m.Members()) == 0
	})
	proxy.tn.SetMaxMessageSize(0)
	if keys := proxy.m.Keys(); len(keys) != 0 {
		t.Errorf("the proxy still lists %v, whose value no node holds", keys)
	}
	if v, ok, err := proxy.m.Get(ctx(t), "k"); ok || err != nil {
		t.Errorf("get of the key whose primary and backup left: %#v, ok=%v, err=%v; want no such key", v, ok, err)
	}
}
