package replmap_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/nodetest"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/membership/static"
	tribesnode "github.com/gotribes/tribes/node"
	"github.com/gotribes/tribes/replmap"
	"github.com/gotribes/tribes/transport/nio"
)

// A primary's removal forwarded to its backup nodes (a MSG_REMOVE naming the sender as
// the primary) drops only a backup or proxy whose primary is the sender: not the
// receiver's own primary entry, nor another primary's backup. A plain MSG_REMOVE, as
// Java sends, drops any.
func TestForwardedRemoveDropsOnlyTheSendersBackup(t *testing.T) {
	nodes := cluster(t, channeltest.NewNetwork(), 2)
	a, b := nodes[0], nodes[1]
	if _, err := a.m.Put(ctx(t), "k", "v"); err != nil {
		t.Fatal(err)
	}
	if _, primary, held := b.m.Peek("k"); !held || primary {
		t.Fatal("B holds no backup of A's k")
	}
	stranger := channel.Member{Host: []byte{127, 0, 0, 9}, Port: 4999, SecurePort: -1, UDPPort: -1}
	if err := replmap.ReceivePrimaryRemoved(b.m, stranger, "k"); err != nil {
		t.Fatal(err)
	}
	if _, _, held := b.m.Peek("k"); !held {
		t.Fatal("another member's forwarded removal dropped B's backup of A's k")
	}
	if err := replmap.ReceivePrimaryRemoved(a.m, b.ch.LocalMember(), "k"); err != nil {
		t.Fatal(err)
	}
	if _, primary, held := a.m.Peek("k"); !held || !primary {
		t.Fatal("B's forwarded removal dropped A's primary entry")
	}
	if err := replmap.ReceivePrimaryRemoved(b.m, a.ch.LocalMember(), "k"); err != nil {
		t.Fatal(err)
	}
	if slices.Contains(b.m.Keys(), any("k")) {
		t.Fatal("A's forwarded removal left B's backup of A's k")
	}
	// A plain MSG_REMOVE (Java's) drops A's primary, whoever sends it.
	if err := replmap.ReceiveRemove(a.m, stranger, "k"); err != nil {
		t.Fatal(err)
	}
	if slices.Contains(a.m.Keys(), any("k")) {
		t.Fatal("a plain MSG_REMOVE left A's primary")
	}
}

// With synchronized-ack SendOptions, primaries that other members' MSG_REMOVEs drop
// forward the removal to their backup nodes, each of which is dropping primaries of its
// own at the same time: A removes B's keys, B C's and C A's, each key backed up by one of
// the two others in turn, so that a handler of A's sending to B could wait for B's, which
// sends to C, which sends to A. Every Remove returns within the deadline (no handler
// waits for an ACK: the forwarding is not the receive handler's), no node lists a key
// afterwards, and the maps stop (goleak: the forwarding goroutine ends).
// Over channeltest and over TCP, whose receiver handles a connection's messages one at
// a time.
func TestForwardedRemovesWithSyncAckDoNotDeadlock(t *testing.T) {
	t.Run("channeltest", func(t *testing.T) {
		forwardedRemovesDoNotDeadlock(t, clusterConfig(t, channeltest.NewNetwork(), 3, replmap.Config{SendOptions: syncAck}))
	})
	t.Run("tcp", func(t *testing.T) {
		forwardedRemovesDoNotDeadlock(t, tcpCluster(t, 3, replmap.Config{SendOptions: syncAck}))
	})
}

// tcpCluster starts the map with cfg on n channels over loopback TCP, each listing the
// others; they stop at cleanup.
func tcpCluster(t *testing.T, n int, cfg replmap.Config) []*node {
	t.Helper()
	return tcpClusterWith(t, n, cfg, nil)
}

// tcpClusterWith is tcpCluster with each node's configuration passed, with its index, to
// set (if not nil) before its channel starts.
func tcpClusterWith(t *testing.T, n int, cfg replmap.Config, set func(i int, ncfg *tribesnode.Config)) []*node {
	t.Helper()
	var chans []*channel.Channel
	for i := range n {
		tcfg := nio.DefaultConfig()
		tcfg.Address, tcfg.Port = "127.0.0.1", 0
		ncfg := tribesnode.Config{Transport: &tcfg}
		if set != nil {
			set(i, &ncfg)
		}
		chans = append(chans, nodetest.Start(t, ncfg))
	}
	for _, ch := range chans {
		for _, other := range chans {
			if other != ch {
				if err := ch.Membership().(*static.Service).Add(ctx(t), other.LocalMember()); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	nodes := make([]*node, n)
	for i, ch := range chans {
		if err := ch.WaitForMembers(ctx(t), n-1); err != nil {
			t.Fatal(err)
		}
		nodes[i] = &node{ch: ch}
		newMap(t, nodes[i], cfg)
	}
	for _, nd := range nodes {
		start(t, nd)
	}
	waitMapMembers(t, nodes, n-1)
	return nodes
}

func forwardedRemovesDoNotDeadlock(t *testing.T, nodes []*node) {
	const perNode = 40
	var keys [3][]string
	for i, n := range nodes {
		for j := range perNode {
			k := fmt.Sprint("n", i, "k", j)
			if _, err := n.m.Put(ctx(t), k, int32(j)); err != nil {
				t.Fatal(err)
			}
			keys[i] = append(keys[i], k)
		}
	}
	dctx, cancel := context.WithTimeout(context.Background(), testutil.WaitLimit)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 3*perNode)
	for i, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, k := range keys[(i+1)%3] {
				if _, err := n.m.Remove(dctx, k); err != nil {
					errs <- fmt.Errorf("node %d's Remove of %s: %w", i, k, err)
				}
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-dctx.Done():
		t.Fatal("the Removes did not return within the deadline")
	}
	close(errs)
	for err := range errs {
		t.Errorf("Remove: %v", err)
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "no node listing a key", func() bool {
		return !slices.ContainsFunc(nodes, func(n *node) bool { return len(n.m.Keys()) > 0 })
	})
	for _, n := range nodes {
		if err := n.m.Stop(dctx); err != nil {
			t.Fatalf("Stop: %v", err)
		}
	}
}
