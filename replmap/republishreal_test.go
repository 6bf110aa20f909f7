package replmap_test

import (
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/mapnotes"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/replmap"
)

// Replicate of an entry whose backup left, behind the departure's pass that republishes
// it (TestReplicateAndADeparturePassRepublishOneAfterTheOther), with no test hook
// standing in for the pass: the member really leaves, and the pass holds its MSG_PROXY.

// departureCluster starts four nodes on nw with cfg (synchronized ACKs), the first
// sending through the returned holdSend of MSG_PROXY (released at cleanup, before the
// maps stop), and returns them with the function that releases it.
func departureCluster(t *testing.T, nw *channeltest.Network, cfgs ...replmap.Config) ([]*node, *holdSend, func()) {
	t.Helper()
	hold := &holdSend{typ: msgProxyType, held: make(chan struct{}), release: make(chan struct{})}
	var once sync.Once
	release := func() { once.Do(func() { close(hold.release) }) }
	nodes := []*node{newChannel(t, nw, hold), newChannel(t, nw), newChannel(t, nw), newChannel(t, nw)}
	for _, n := range nodes {
		waitChannelMembers(t, n, 3)
	}
	for i, n := range nodes {
		newMap(t, n, cfgs[min(i, len(cfgs)-1)])
	}
	for _, n := range nodes {
		start(t, n)
	}
	waitMapMembers(t, nodes, 3)
	t.Cleanup(release)
	return nodes, hold, release
}

// backupOf returns the node of nodes, other than a and those in but, that holds k as a
// backup (a value, not the primary), nil if none does.
func backupOf(nodes []*node, a *node, k string, but ...*node) *node {
	for _, n := range nodes {
		if _, primary, held := n.m.Peek(k); n != a && !slices.Contains(but, n) && held && !primary {
			return n
		}
	}
	return nil
}

// departurePassHeld kills x, a's backup of k, and returns once a's departure pass sent
// its MSG_BACKUP of k to another member and holds its MSG_PROXY, with that member and
// the channel closed once the kill returned (the pass ended).
func departurePassHeld(t *testing.T, nw *channeltest.Network, nodes []*node, a, x *node, k string, hold *holdSend) (c *node, killed chan struct{}) {
	t.Helper()
	hold.armed.Store(true)
	killed = make(chan struct{})
	go func() {
		defer close(killed)
		nw.Kill(x.tn) // returns once a's departure pass republished k
	}()
	t.Cleanup(func() { <-killed })
	select {
	case <-hold.held:
	case <-ctx(t).Done():
		t.Fatal("a's departure pass sent no MSG_PROXY of k")
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "a member holding the pass's MSG_BACKUP of k", func() bool {
		c = backupOf(nodes, a, k, x)
		return c != nil
	})
	return c, killed
}

// replicateWaiting starts a's Replicate of k and returns its result's channel once it
// waits for the republish under way.
func replicateWaiting(t *testing.T, a *node, k string) chan error {
	t.Helper()
	replicated := make(chan error, 1)
	go func() { replicated <- a.m.Replicate(ctx(t), k, false) }()
	testutil.EventuallyTrue(t, testutil.WaitLimit, "a's Replicate waiting for the pass", func() bool {
		return replmap.RepublishWaiters(a.m) == 1
	})
	return replicated
}

// A Diffable changed while the departure's pass publishes it (its MSG_BACKUP sent, the
// change not in it) and replicated then: the Replicate waits for the pass and, the entry
// having a backup node again, publishes nothing itself; its change must reach that
// backup all the same, once (the pass, finding the value dirty after its send, has the
// Replicate send it in full).
func TestReplicateOfADiffableChangedWhileTheDeparturePassPublishesIt(t *testing.T) {
	nw := channeltest.NewNetwork()
	nodes, hold, release := departureCluster(t, nw, replmap.Config{Values: mapnotes.Codec{}, SendOptions: syncAck})
	a := nodes[0]
	const k = "k"
	v := mapnotes.New("a")
	if _, err := a.m.Put(ctx(t), k, v); err != nil {
		t.Fatal(err)
	}
	x := backupOf(nodes, a, k)
	if x == nil {
		t.Fatal("no member holds a backup of a's k")
	}
	c, killed := departurePassHeld(t, nw, nodes, a, x, k, hold)
	waitItems(t, c, k, "a")
	v.Add("b")
	replicated := replicateWaiting(t, a, k)
	release()
	if err := await(t, "a's Replicate", replicated); err != nil {
		t.Fatalf("a's Replicate of k: %v", err)
	}
	<-killed
	// Synchronized ACKs: what the Replicate sent is applied on its return.
	if got := replmap.Held(c.m, k).(*mapnotes.Notes).Items(); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("k's backup holds %q after the Replicate returned nil, want [a b]", got)
	}
	if o := backupOf(nodes, a, k, x, c); o != nil {
		t.Fatal("two members hold a backup of a's k")
	}
	if err := a.m.Replicate(ctx(t), k, false); err != nil {
		t.Fatal(err)
	}
	waitItems(t, c, k, "a", "b")
	if n := replmap.RepublishWaiters(a.m); n != 0 {
		t.Fatalf("%d republishes still waiting", n)
	}
}

// A Remove of the key while a Replicate waits for the departure's pass: the pass finds
// the entry gone and retracts what it sent, the Replicate returns nil (as a Replicate of
// a removed entry does: TestReplicateOfARemovedEntrySendsNothing), and no node holds
// the key after.
func TestRemoveWhileReplicateWaitsForTheDeparturePass(t *testing.T) {
	nw := channeltest.NewNetwork()
	nodes, hold, release := departureCluster(t, nw, replmap.Config{SendOptions: syncAck})
	a := nodes[0]
	const k = "k"
	if _, err := a.m.Put(ctx(t), k, "v"); err != nil {
		t.Fatal(err)
	}
	x := backupOf(nodes, a, k)
	if x == nil {
		t.Fatal("no member holds a backup of a's k")
	}
	_, killed := departurePassHeld(t, nw, nodes, a, x, k, hold)
	replicated := replicateWaiting(t, a, k)
	if old, err := a.m.Remove(ctx(t), k); err != nil || old != "v" {
		t.Fatalf("a's Remove of k = %#v, %v; want \"v\", nil", old, err)
	}
	release()
	if err := await(t, "a's Replicate", replicated); err != nil {
		t.Fatalf("a's Replicate of k removed while it waited: %v, want nil", err)
	}
	<-killed
	for i, n := range nodes {
		if n == x {
			continue
		}
		if v, _, held := n.m.Peek(k); held || v != nil {
			t.Fatalf("node %d holds k (%#v) after its Remove", i, v)
		}
		if _, ok := replmap.Primary(n.m, k); ok {
			t.Fatalf("node %d lists k after its Remove", i)
		}
	}
	if n := replmap.RepublishWaiters(a.m); n != 0 {
		t.Fatalf("%d republishes still waiting", n)
	}
}

// The backup node the departure's pass gave the entry leaves in turn after the
// Replicate that waited for that pass read it, before the Replicate's send (its Diff
// held): killed, or its map stopped. The change must reach a member all the same (the
// second departure's pass publishes the value in full to the last member), once. With
// synchronized ACKs the Replicate reports its failed send; without ACKs its send to the
// node whose map stopped succeeds, and the Replicate returns nil: the last member then
// gets the change from that pass.
func TestReplicateWhoseNewBackupLeavesBeforeItsSend(t *testing.T) {
	for _, tc := range []struct {
		name       string
		stop, acks bool
	}{{"killed", false, true}, {"stopped", true, true}, {"stopped without ACKs", true, false}} {
		t.Run(tc.name, func(t *testing.T) {
			stop := tc.stop
			opts := syncAck
			if !tc.acks {
				opts = 0
			}
			nw := channeltest.NewNetwork()
			nodes, hold, release := departureCluster(t, nw,
				replmap.Config{Values: heldDiffCodec{}, SendOptions: opts},
				replmap.Config{Values: mapnotes.Codec{}, SendOptions: opts})
			a := nodes[0]
			const k = "k"
			v := &heldDiff{Notes: mapnotes.New("a"), entered: make(chan struct{}), release: make(chan struct{}),
				diffed: make(chan struct{})}
			var releaseDiff sync.Once
			t.Cleanup(func() { releaseDiff.Do(func() { close(v.release) }) })
			if _, err := a.m.Put(ctx(t), k, v); err != nil {
				t.Fatal(err)
			}
			x := backupOf(nodes, a, k)
			if x == nil {
				t.Fatal("no member holds a backup of a's k")
			}
			c, killed := departurePassHeld(t, nw, nodes, a, x, k, hold)
			v.Add("b")
			v.armed.Store(true)
			replicated := replicateWaiting(t, a, k)
			release()
			select {
			case <-v.entered: // the Replicate read the entry naming c, and takes the Diff
			case err := <-replicated:
				t.Fatalf("a's Replicate returned (%v) without taking the Diff", err)
			case <-ctx(t).Done():
				t.Fatal("a's Replicate took no Diff")
			}
			<-killed
			if stop {
				if err := c.m.Stop(ctx(t)); err != nil {
					t.Fatal(err)
				}
			} else {
				nw.Kill(c.tn)
			}
			testutil.EventuallyTrue(t, testutil.WaitLimit, "a dropping c", func() bool { return len(a.m.Members()) == 1 })
			releaseDiff.Do(func() { close(v.release) })
			rerr := await(t, "a's Replicate", replicated)
			t.Logf("a's Replicate whose backup left before its send: %v", rerr)
			var d *node
			for _, n := range nodes[1:] {
				if n != x && n != c {
					d = n
				}
			}
			check := func(when string) error {
				n, ok := replmap.Held(d.m, k).(*mapnotes.Notes)
				if !ok {
					return fmt.Errorf("%s: the last member holds %#v, want notes", when, replmap.Held(d.m, k))
				}
				if got := n.Items(); !slices.Equal(got, []string{"a", "b"}) {
					return fmt.Errorf("%s: the last member holds %q, want [a b]", when, got)
				}
				return nil
			}
			switch {
			case tc.acks && rerr == nil:
				// A nil error says the change is on the backup nodes: with synchronized
				// ACKs, applied by the time the Replicate returned.
				if err := check("after the Replicate returned nil"); err != nil {
					t.Fatal(err)
				}
			case !tc.acks:
				if rerr != nil {
					t.Fatalf("a's Replicate without ACKs: %v, want nil (its send to the stopped map succeeds)", rerr)
				}
				testutil.Eventually(t, testutil.WaitLimit, func() error { return check("after the Replicate returned nil") })
			}
			if err := a.m.Replicate(ctx(t), k, false); err != nil {
				t.Fatalf("a's next Replicate of k: %v", err)
			}
			if tc.acks {
				if err := check("after the next Replicate"); err != nil {
					t.Fatal(err)
				}
			} else {
				testutil.Eventually(t, testutil.WaitLimit, func() error { return check("after the next Replicate") })
			}
			if n := replmap.RepublishWaiters(a.m); n != 0 {
				t.Fatalf("%d republishes still waiting", n)
			}
		})
	}
}
