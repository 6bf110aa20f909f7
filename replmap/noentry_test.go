package replmap_test

import (
	"errors"
	"testing"

	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/replmap"
)

// A proxy's Get whose backup answers that it holds no entry for the key (a null reply to
// MSG_RETRIEVE_BACKUP, as AbstractReplicatedMap.replyRequest answers) fails with an
// error wrapping ErrNoEntry, which a backup that does not answer never wraps: the caller
// can tell a key removed on the other nodes from a backup out of reach. Here the proxy's
// node missed the removal. Before, both were the same ErrUnavailable without a cause.
func TestProxyGetOfRemovedEntryIsNoEntry(t *testing.T) {
	nw := channeltest.NewNetwork()
	nodes := cluster(t, nw, 3)
	primary := nodes[0]
	if _, err := primary.m.Put(ctx(t), "k", "v"); err != nil {
		t.Fatal(err)
	}
	backup, proxy := nodes[1], nodes[2]
	if proxy.m.Len() != 0 {
		backup, proxy = proxy, backup
	}
	proxy.tn.SetMaxMessageSize(1) // the proxy misses the removal
	_, _ = primary.m.Remove(ctx(t), "k")
	proxy.tn.SetMaxMessageSize(0)
	if backup.m.Len() != 0 {
		t.Fatal("the backup still holds the removed entry")
	}
	_, ok, err := proxy.m.Get(ctx(t), "k")
	if ok || !errors.Is(err, replmap.ErrNoEntry) {
		t.Fatalf("get of a key its backup no longer holds: ok=%v err=%v; want an error wrapping ErrNoEntry", ok, err)
	}

	// A backup out of reach is not "no entry".
	if _, err := primary.m.Put(ctx(t), "k2", "v"); err != nil {
		t.Fatal(err)
	}
	backup, proxy = nodes[1], nodes[2]
	if proxy.m.Len() != 0 {
		backup, proxy = proxy, backup
	}
	nw.Partition(proxy.tn, backup.tn)
	if _, _, err := proxy.m.Get(ctx(t), "k2"); !errors.Is(err, replmap.ErrUnavailable) || errors.Is(err, replmap.ErrNoEntry) {
		t.Fatalf("get with the backup out of reach: %v; want ErrUnavailable, not ErrNoEntry", err)
	}
}
