package replmap_test

import (
	"sync/atomic"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/replmap"
)

const msgProxyType = 3 // MSG_PROXY

// A Put that returned nil keeps its value on two nodes even when its backup leaves while
// the Put is still telling the other members (its MSG_PROXY): the primary must pick a
// new backup, as it does for the entries it held when the backup left. Otherwise the
// acknowledged value lives on the primary alone, and is gone when the primary dies too.
func TestPutWhileBackupLeaves(t *testing.T) {
	nw := channeltest.NewNetwork()
	nodes := cluster(t, nw, 3)
	primary := nodes[0]

	var armed atomic.Bool
	armed.Store(true)
	blocked := make(chan int, 1)
	release := make(chan struct{})
	for i := 1; i < 3; i++ {
		remove := nodes[i].ch.AddMessageListener(channel.MessageListenerFunc(func(msg *channel.Message) error {
			if replmap.MessageType(msg.Data) == msgProxyType && armed.CompareAndSwap(true, false) {
				blocked <- i
				<-release
			}
			return nil
		}))
		t.Cleanup(remove)
	}
	putErr := make(chan error, 1)
	go func() {
		_, err := primary.m.Put(ctx(t), "k", "v")
		putErr <- err
	}()
	var proxy *node
	var backup *node
	select {
	case i := <-blocked:
		proxy, backup = nodes[i], nodes[3-i]
	case err := <-putErr:
		t.Fatalf("Put returned (%v) before its MSG_PROXY reached the proxy", err)
	}
	if got := backup.m.Len(); got != 1 {
		close(release)
		t.Fatalf("the backup holds %d values, want 1", got)
	}
	// The backup dies while the Put is under way, and the primary sees it go.
	nw.Kill(backup.tn)
	testutil.EventuallyTrue(t, testutil.WaitLimit, "the primary drops the dead backup", func() bool {
		return len(primary.m.Members()) == 1
	})
	close(release)
	if err := <-putErr; err != nil {
		t.Fatalf("put: %v", err)
	}
	// The put was acknowledged: the value must now be on two of the survivors.
	survivors := []*node{primary, proxy}
	if got := lens(survivors); got != 2 {
		t.Errorf("acknowledged put held by %d of the surviving nodes, want 2 (primary and a new backup)", got)
	}
	// The primary dies too: the acknowledged value must still be readable.
	nw.Kill(primary.tn)
	testutil.EventuallyTrue(t, testutil.WaitLimit, "the proxy drops the dead primary", func() bool {
		return len(proxy.m.Members()) == 0
	})
	v, ok, err := proxy.m.Get(ctx(t), "k")
	if err != nil || !ok || v != "v" {
		t.Fatalf("acknowledged put lost after its backup left mid-put and its primary died: get = %#v, ok=%v, err=%v",
			v, ok, err)
	}
}

// Get on the node holding an entry's backup returns the value it holds and makes the
// node the primary even when no other member takes the new backup (Java's
// publishEntryInfo logs each failed send and returns no backup; its get returns the
// value). This is the failover case: the load balancer sends the client to the backup
// because the primary is failing, before membership drops it.
func TestGetOnBackupWithPrimaryUnreachable(t *testing.T) {
	nw := channeltest.NewNetwork()
	nodes := cluster(t, nw, 2)
	primary, backup := nodes[0], nodes[1]
	if _, err := primary.m.Put(ctx(t), "k", "v"); err != nil {
		t.Fatal(err)
	}
	if backup.m.Len() != 1 {
		t.Fatal("no backup on the other node")
	}
	primary.tn.SetMaxMessageSize(1) // every message to the failing primary is lost
	v, ok, err := backup.m.Get(ctx(t), "k")
	if err != nil || !ok || v != "v" {
		t.Fatalf("get on the backup with the primary unreachable: %#v, ok=%v, err=%v; want the held value", v, ok, err)
	}
	if _, isPrimary, _ := backup.m.Peek("k"); !isPrimary {
		t.Error("the backup's get did not make it the primary")
	}
}
