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

// forwardHeld starts A and B, has A put k (B its backup), and has another member's
// MSG_REMOVE drop A's primary, whose forwarded removal to B is then held in A's send
// until the returned release is called. Only that MSG_REMOVE is held: A's later ones to
// B go at once.
func forwardHeld(t *testing.T) (a, b *node, release func()) {
	t.Helper()
	nw := channeltest.NewNetwork()
	block := &removesTo{held: make(chan struct{}), release: make(chan struct{})}
	var once sync.Once
	release = func() { once.Do(func() { close(block.release) }) }
	a, b = twoMaps(t, nw, replmap.Config{}, replmap.Config{}, block)
	t.Cleanup(release) // before the maps stop
	if _, err := a.m.Put(ctx(t), "k", "v"); err != nil {
		t.Fatal(err)
	}
	if replmap.Held(b.m, "k") != "v" {
		t.Fatal("B holds no backup of A's k")
	}
	bm := b.ch.LocalMember()
	block.target.Store(&bm)
	if err := replmap.ReceiveRemove(a.m, stranger, "k"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-block.held:
	case <-ctx(t).Done():
		t.Fatal("A did not forward the removal of its primary to B")
	}
	block.target.Store(nil)
	return a, b, release
}

// forwardsDone waits until A has no forwarder left: its forwarded removals were sent.
func forwardsDone(t *testing.T, a *node) {
	t.Helper()
	testutil.EventuallyTrue(t, testutil.WaitLimit, "no forwarder left", func() bool {
		workers, queues := replmap.Forwarders(a.m)
		return workers == 0 && queues == 0
	})
}

// A Put of a key whose forwarded removal to a backup node is blocked in its send waits
// for that send (the forward holds the key's send lock; over TCP up to the transport's
// send timeout), so that the removal cannot reach the backup node after the Put's copy:
// once the send returned, the Put stores its value and B holds it. A forward sent
// without the lock let the removal drop on B the copy of a Put B had acknowledged.
func TestPutOfAKeyWaitsForAForwardOfIt(t *testing.T) {
	a, b, release := forwardHeld(t)
	put := make(chan error, 1)
	go func() {
		_, err := a.m.Put(context.Background(), "k", "v2") // ends once released
		put <- err
	}()
	testutil.EventuallyTrue(t, testutil.WaitLimit, "A's Put waiting for k's send lock", func() bool {
		return replmap.KeyLockRefs(a.m, "k") == 2 // the forward holds it, the Put waits
	})
	select {
	case err := <-put:
		t.Fatalf("A's Put of k returned (%v) while the forward of k held the key's send lock", err)
	default:
	}
	if got := replmap.Held(b.m, "k"); got != "v" {
		t.Fatalf("B's backup of k = %#v while the forward and the Put wait, want the old \"v\"", got)
	}
	release()
	select {
	case err := <-put:
		if err != nil {
			t.Fatal(err)
		}
	case <-ctx(t).Done():
		t.Fatal("A's Put of k did not return once the forward was sent")
	}
	forwardsDone(t, a)
	if v, primary, ok := a.m.Peek("k"); !ok || !primary || v != "v2" {
		t.Fatalf("A's k = %#v (primary %v, held %v), want its primary \"v2\"", v, primary, ok)
	}
	if got := replmap.Held(b.m, "k"); got != "v2" {
		t.Fatalf("B's backup of k = %#v after the Put, want \"v2\"", got)
	}
	if got := get(t, b, "k"); got != "v2" {
		t.Fatalf("B's Get of k = %#v", got)
	}
}

// A Put of another key does not wait for a forwarded removal blocked in its send: only
// the key's send lock is held.
func TestPutOfAnotherKeyDoesNotWaitForAForward(t *testing.T) {
	a, b, release := forwardHeld(t)
	if _, err := a.m.Put(ctx(t), "k2", "w"); err != nil {
		t.Fatalf("A's Put of k2 while the forward of k is held: %v", err)
	}
	if n := replmap.KeyLockRefs(a.m, "k"); n != 1 {
		t.Fatalf("%d goroutines hold or wait for k's send lock after the Put of k2, want 1 (the forward)", n)
	}
	if got := replmap.Held(b.m, "k2"); got != "w" {
		t.Fatalf("B's backup of k2 = %#v, want \"w\"", got)
	}
	release()
	forwardsDone(t, a)
	if _, _, held := b.m.Peek("k"); held {
		t.Fatal("B holds k after its forwarded removal")
	}
	if got := replmap.Held(b.m, "k2"); got != "w" {
		t.Fatalf("B's backup of k2 = %#v after the forward, want \"w\"", got)
	}
}

// A Put waiting behind a forwarded removal of its key ends when its ctx does: it
// returns an error wrapping ctx's, stores and sends nothing, and leaves the key's send
// lock to the forward only; a later Put of the key works.
func TestPutWaitingForAForwardOfItsKeyEndsWithItsContext(t *testing.T) {
	a, b, release := forwardHeld(t)
	pctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	put := make(chan error, 1)
	go func() {
		_, err := a.m.Put(pctx, "k", "v2")
		put <- err
	}()
	testutil.EventuallyTrue(t, testutil.WaitLimit, "A's Put waiting for k's send lock", func() bool {
		return replmap.KeyLockRefs(a.m, "k") == 2
	})
	cancel()
	select {
	case err := <-put:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("A's Put whose ctx ended while it waited: %v, want context.Canceled", err)
		}
	case <-ctx(t).Done():
		t.Fatal("A's Put did not return when its ctx ended")
	}
	if n := replmap.KeyLockRefs(a.m, "k"); n != 1 {
		t.Fatalf("%d goroutines hold or wait for k's send lock, want 1 (the forward)", n)
	}
	if _, _, held := a.m.Peek("k"); held {
		t.Fatal("A holds k after a Put that ended with its ctx")
	}
	release()
	forwardsDone(t, a)
	if n := replmap.KeyLockRefs(a.m, "k"); n != 0 {
		t.Fatalf("%d goroutines hold or wait for k's send lock after the forward", n)
	}
	if _, _, held := b.m.Peek("k"); held {
		t.Fatal("B holds k after its forwarded removal")
	}
	if _, err := a.m.Put(ctx(t), "k", "v3"); err != nil {
		t.Fatal(err)
	}
	if got := replmap.Held(b.m, "k"); got != "v3" {
		t.Fatalf("B's backup of k = %#v after the Put, want \"v3\"", got)
	}
	if n := replmap.KeyReplicatesListed(a.m); n != 0 {
		t.Fatalf("%d keys still tracked", n)
	}
}
