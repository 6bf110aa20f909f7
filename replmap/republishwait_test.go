package replmap_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/replmap"
)

// backupLeftCluster starts four nodes on nw, the one of index held sending through the
// returned holdSend of MSG_PROXY (released at cleanup, before the maps stop).
func backupLeftCluster(t *testing.T, nw *channeltest.Network, held int) ([]*node, *holdSend, func()) {
	t.Helper()
	hold := &holdSend{typ: msgProxyType, held: make(chan struct{}), release: make(chan struct{})}
	var once sync.Once
	release := func() { once.Do(func() { close(hold.release) }) }
	nodes := make([]*node, 4)
	for i := range nodes {
		if i == held {
			nodes[i] = newChannel(t, nw, hold)
		} else {
			nodes[i] = newChannel(t, nw)
		}
	}
	for _, n := range nodes {
		waitChannelMembers(t, n, 3)
	}
	for _, n := range nodes {
		newMap(t, n, replmap.Config{})
	}
	for _, n := range nodes {
		start(t, n)
	}
	waitMapMembers(t, nodes, 3)
	t.Cleanup(release)
	return nodes, hold, release
}

// backupLeaves waits until n's publish of k, which sent its MSG_BACKUP to a member and
// holds its MSG_PROXY, is held; it kills that member (the one other than n holding k's
// value as a backup) and returns it once n no longer lists it. It then marks a
// republish of k under way on n (released at cleanup) and releases the MSG_PROXY.
func backupLeaves(t *testing.T, nw *channeltest.Network, nodes []*node, n *node, k string, hold *holdSend, release func()) (gone *node, releaseRepublish func()) {
	t.Helper()
	select {
	case <-hold.held:
	case <-ctx(t).Done():
		t.Fatal("no MSG_PROXY of k held")
	}
	for _, o := range nodes {
		if _, primary, held := o.m.Peek(k); o != n && held && !primary {
			gone = o
		}
	}
	if gone == nil {
		t.Fatal("no member holds the backup n published")
	}
	nw.Kill(gone.tn)
	testutil.EventuallyTrue(t, testutil.WaitLimit, "n dropping the killed backup", func() bool { return len(n.m.Members()) == 2 })
	releaseRepublish = replmap.HoldRepublish(n.m, k)
	t.Cleanup(releaseRepublish)
	release()
	testutil.EventuallyTrue(t, testutil.WaitLimit, "the republish waiting for the other", func() bool {
		return replmap.RepublishWaiters(n.m) == 1
	})
	return gone, releaseRepublish
}

// backupsOf returns how many of nodes, but primary and gone, hold k's value v as a
// backup.
func backupsOf(nodes []*node, primary, gone *node, k string, v any) int {
	n := 0
	for _, o := range nodes {
		if got, isPrimary, held := o.m.Peek(k); o != primary && o != gone && held && !isPrimary && got == v {
			n++
		}
	}
	return n
}

// A Put whose backup left while it published (TestPutWhileBackupLeaves) republishes the
// entry, after another republish of the key under way (here one marked so by the test:
// a departure's pass, or a Replicate of the entry): it waits for it, then publishes the
// value to a member, and returns nil. When its ctx ends while it waits, it returns an
// error wrapping ctx's; the node holds the value as its primary, no member a backup,
// and the next Replicate publishes it.
func TestPutWhoseBackupLeftWaitsForAnotherRepublishOfTheKey(t *testing.T) {
	for _, end := range []bool{false, true} {
		name := map[bool]string{false: "republish returns", true: "ctx ends"}[end]
		t.Run(name, func(t *testing.T) {
			nw := channeltest.NewNetwork()
			nodes, hold, release := backupLeftCluster(t, nw, 0)
			a := nodes[0]
			pctx, cancel := context.WithCancel(ctx(t))
			defer cancel()
			hold.armed.Store(true)
			put := make(chan error, 1)
			go func() {
				_, err := a.m.Put(pctx, "k", "v")
				put <- err
			}()
			gone, releaseRepublish := backupLeaves(t, nw, nodes, a, "k", hold, release)
			select {
			case err := <-put:
				t.Fatalf("A's Put returned (%v) while another republish of k was under way", err)
			default:
			}
			if end {
				cancel()
			} else {
				releaseRepublish()
			}
			err := await(t, "A's Put", put)
			if v, primary, held := a.m.Peek("k"); !held || !primary || v != "v" {
				t.Fatalf("A's k = %#v (primary %v, held %v), want its primary \"v\"", v, primary, held)
			}
			if n := replmap.RepublishWaiters(a.m); n != 0 {
				t.Fatalf("%d republishes still waiting", n)
			}
			if !end {
				if err != nil {
					t.Fatalf("A's Put: %v", err)
				}
				if n := backupsOf(nodes, a, gone, "k", "v"); n != 1 {
					t.Fatalf("%d members hold a backup of A's k after the Put, want 1", n)
				}
				return
			}
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("A's Put whose ctx ended while its republish waited: %v, want context.Canceled", err)
			}
			if n := backupsOf(nodes, a, gone, "k", "v"); n != 0 {
				t.Fatalf("%d members hold a backup of A's k after a republish that did not run, want 0", n)
			}
			releaseRepublish()
			if err := a.m.Replicate(ctx(t), "k", false); err != nil {
				t.Fatalf("A's Replicate of k: %v", err)
			}
			if n := backupsOf(nodes, a, gone, "k", "v"); n != 1 {
				t.Fatalf("%d members hold a backup of A's k after the Replicate, want 1", n)
			}
			if n := replmap.KeyLockRefs(a.m, "k"); n != 0 {
				t.Fatalf("%d goroutines hold or wait for k's send lock", n)
			}
		})
	}
}

// A Get on a backup whose new backup left while it published
// (TestGetOnBackupWhileNewBackupLeaves) republishes the entry, after another republish
// of the key under way: it waits for it, then publishes the value to a member, and
// returns the value. When its ctx ends while it waits, it returns the value all the
// same (the entry is the node's primary: a failed relocation is Replicate's to report,
// as when no member takes the backup); no member holds a backup then, and the next
// Replicate publishes it.
func TestGetWhoseNewBackupLeftWaitsForAnotherRepublishOfTheKey(t *testing.T) {
	for _, end := range []bool{false, true} {
		name := map[bool]string{false: "republish returns", true: "ctx ends"}[end]
		t.Run(name, func(t *testing.T) {
			nw := channeltest.NewNetwork()
			nodes, hold, release := backupLeftCluster(t, nw, 1)
			a, b := nodes[0], nodes[1]
			k := backedUpBy(t, a, b)[0]
			gctx, cancel := context.WithCancel(ctx(t))
			defer cancel()
			hold.armed.Store(true)
			type result struct {
				v   any
				ok  bool
				err error
			}
			got := make(chan result, 1)
			go func() {
				v, ok, err := b.m.Get(gctx, k)
				got <- result{v, ok, err}
			}()
			gone, releaseRepublish := backupLeaves(t, nw, nodes, b, k, hold, release)
			select {
			case r := <-got:
				t.Fatalf("B's Get returned (%v) while another republish of k was under way", r.err)
			default:
			}
			if end {
				cancel()
			} else {
				releaseRepublish()
			}
			var r result
			select {
			case r = <-got:
			case <-ctx(t).Done():
				t.Fatal("B's Get did not return")
			}
			if r.err != nil || !r.ok || r.v != "v" {
				t.Fatalf("B's Get = %#v, %v, %v, want \"v\", true, nil", r.v, r.ok, r.err)
			}
			if _, primary, held := b.m.Peek(k); !held || !primary {
				t.Fatal("B is not k's primary after its Get")
			}
			if n := replmap.RepublishWaiters(b.m); n != 0 {
				t.Fatalf("%d republishes still waiting", n)
			}
			want := 1
			if end {
				want = 0
			}
			if n := backupsOf(nodes, b, gone, k, "v"); n != want {
				t.Fatalf("%d members hold a backup of B's k after the Get, want %d", n, want)
			}
			if !end {
				return
			}
			releaseRepublish()
			if err := b.m.Replicate(ctx(t), k, false); err != nil {
				t.Fatalf("B's Replicate of k: %v", err)
			}
			if n := backupsOf(nodes, b, gone, k, "v"); n != 1 {
				t.Fatalf("%d members hold a backup of B's k after the Replicate, want 1", n)
			}
		})
	}
}
