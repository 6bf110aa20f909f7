package replmap_test

import (
	"sync/atomic"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/replmap"
)

// Get on the node holding an entry's backup makes it the primary with a new backup. When
// that new backup leaves while Get is still telling the other members (its MSG_PROXY),
// the entry must not end up naming the departed node as its backup: the memberDisappeared
// that dropped it could not see it there (Put re-publishes in that case,
// TestPutWhileBackupLeaves). Otherwise the value lives on one node only, and every later
// Replicate sends to the departed node and fails, forever (the session middleware answers
// 503 to every request of that session).
func TestGetOnBackupWhileNewBackupLeaves(t *testing.T) {
	nw := channeltest.NewNetwork()
	nodes := cluster(t, nw, 3)
	primary := nodes[0]
	if _, err := primary.m.Put(ctx(t), "k", "v"); err != nil {
		t.Fatal(err)
	}
	var backup *node
	for _, nd := range nodes[1:] {
		if nd.m.Len() == 1 {
			backup = nd
		}
	}
	if backup == nil {
		t.Fatal("no backup of the put")
	}
	var armed atomic.Bool
	armed.Store(true)
	blocked := make(chan *node, 1)
	release := make(chan struct{})
	var others []*node
	for _, nd := range nodes {
		if nd == backup {
			continue
		}
		others = append(others, nd)
		remove := nd.ch.AddMessageListener(channel.MessageListenerFunc(func(msg *channel.Message) error {
			if replmap.MessageType(msg.Data) == msgProxyType && armed.CompareAndSwap(true, false) {
				blocked <- nd
				<-release
			}
			return nil
		}))
		t.Cleanup(remove)
	}
	getErr := make(chan error, 1)
	go func() {
		_, _, err := backup.m.Get(ctx(t), "k")
		getErr <- err
	}()
	var proxy, newBackup *node
	select {
	case proxy = <-blocked:
	case err := <-getErr:
		t.Fatalf("Get returned (%v) before its MSG_PROXY reached a proxy", err)
	}
	for _, nd := range others {
		if nd != proxy {
			newBackup = nd
		}
	}
	// The new backup dies while the Get is under way, and the node doing the Get sees it go.
	nw.Kill(newBackup.tn)
	testutil.EventuallyTrue(t, testutil.WaitLimit, "the getter drops the dead new backup", func() bool {
		return len(backup.m.Members()) == 1
	})
	close(release)
	if err := <-getErr; err != nil {
		t.Fatalf("get: %v", err)
	}
	if _, isPrimary, _ := backup.m.Peek("k"); !isPrimary {
		t.Fatal("the get did not make the backup the primary")
	}
	// Whatever it is told, the entry's primary cannot replicate any more: every
	// Replicate goes to the departed node.
	failed := 0
	var last error
	for range 3 {
		if err := backup.m.Replicate(ctx(t), "k", true); err != nil {
			failed, last = failed+1, err
		}
	}
	if failed > 0 {
		t.Errorf("%d of 3 replicates after the new backup left during the get failed, last: %v (the entry names the departed node as its backup)",
			failed, last)
	}
	if got := lens([]*node{backup, proxy}); got != 2 {
		t.Errorf("the value is held by %d of the surviving nodes, want 2 (primary and a new backup)", got)
	}
}

// The same on a proxy: Get fetches the value from the backup and makes the local node
// the primary with that backup. When the backup's map stops while Get is still telling
// the other members (its MSG_PROXY), the entry names a node that holds nothing and never
// will: a later Replicate reports success, yet the value is on one node only.
func TestGetOnProxyWhileBackupMapStops(t *testing.T) {
	nw := channeltest.NewNetwork()
	nodes := cluster(t, nw, 3)
	primary := nodes[0]
	if _, err := primary.m.Put(ctx(t), "k", "v"); err != nil {
		t.Fatal(err)
	}
	var backup, getter *node
	for _, nd := range nodes[1:] {
		if nd.m.Len() == 1 {
			backup = nd
		} else {
			getter = nd
		}
	}
	if backup == nil || getter == nil {
		t.Fatal("no backup and proxy of the put")
	}
	var armed atomic.Bool
	armed.Store(true)
	blocked := make(chan struct{}, 1)
	release := make(chan struct{})
	remove := primary.ch.AddMessageListener(channel.MessageListenerFunc(func(msg *channel.Message) error {
		if replmap.MessageType(msg.Data) == msgProxyType && armed.CompareAndSwap(true, false) {
			blocked <- struct{}{}
			<-release
		}
		return nil
	}))
	t.Cleanup(remove)
	getErr := make(chan error, 1)
	go func() {
		_, _, err := getter.m.Get(ctx(t), "k")
		getErr <- err
	}()
	select {
	case <-blocked:
	case err := <-getErr:
		t.Fatalf("Get returned (%v) before its MSG_PROXY reached the old primary", err)
	}
	// The backup's map stops (its application is undeployed) while the Get is under way;
	// the getter sees it leave the map.
	stopped := make(chan error, 1)
	go func() { stopped <- backup.m.Stop(ctx(t)) }()
	testutil.EventuallyTrue(t, testutil.WaitLimit, "the getter drops the stopped map member", func() bool {
		return len(getter.m.Members()) == 1
	})
	close(release)
	if err := <-getErr; err != nil {
		t.Fatalf("get: %v", err)
	}
	<-stopped
	if err := getter.m.Replicate(ctx(t), "k", true); err != nil {
		t.Fatalf("replicate: %v", err)
	}
	if got := lens([]*node{primary, getter}); got != 2 {
		t.Errorf("after a replicate that returned nil the value is held by %d of the map's nodes, want 2 (primary and a backup)", got)
	}
}
