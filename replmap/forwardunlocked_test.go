package replmap_test

import (
	"context"
	"sync"
	"testing"

	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/replmap"
)

// forwardHeld starts A and B, has A put k (B its backup), and has another member's
// MSG_REMOVE drop A's primary, whose forwarded removal to B is then held in A's send
// until the returned release is called.
func forwardHeld(t *testing.T) (a, b *node, release func()) {
	t.Helper()
	nw := channeltest.NewNetwork()
	block := &removesTo{held: make(chan struct{}), release: make(chan struct{})}
	var once sync.Once
	release = func() { once.Do(func() { close(block.release) }) }
	a, b = newChannel(t, nw, block), newChannel(t, nw)
	for _, n := range []*node{a, b} {
		waitChannelMembers(t, n, 1)
	}
	for _, n := range []*node{a, b} {
		newMap(t, n, replmap.Config{})
	}
	start(t, a)
	start(t, b)
	waitMapMembers(t, []*node{a, b}, 1)
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
	return a, b, release
}

// forwardsDone waits until A has no forwarder left: its forwarded removals, and what
// they republish, were sent.
func forwardsDone(t *testing.T, a *node) {
	t.Helper()
	testutil.EventuallyTrue(t, testutil.WaitLimit, "no forwarder left", func() bool {
		workers, queues := replmap.Forwarders(a.m)
		return workers == 0 && queues == 0
	})
}

// A Put of a key on the node whose forwarded removal of it is blocked in the send to a
// backup node returns without waiting for that send. Before, the forward held the key's
// send lock while it sent, and the Put waited for it (here for ever; over TCP up to the
// transport's send timeout). The forward, released after the Put, may reach B after
// the Put's MSG_BACKUP and drop it: A then publishes the entry anew, and B holds the
// Put's value (without it, B held nothing and A was the primary of a value no other
// node held).
func TestPutDoesNotWaitForAForwardOfItsKey(t *testing.T) {
	a, b, release := forwardHeld(t)
	put := make(chan error, 1)
	go func() {
		_, err := a.m.Put(context.Background(), "k", "v2") // ends once released
		put <- err
	}()
	select {
	case err := <-put:
		if err != nil {
			t.Fatal(err)
		}
	case <-ctx(t).Done():
		release()
		<-put
		t.Fatal("A's Put of k waited for the forwarded removal of k blocked in its send")
	}
	release()
	forwardsDone(t, a)
	if v, primary, ok := a.m.Peek("k"); !ok || !primary || v != "v2" {
		t.Fatalf("A's k = %#v (primary %v, held %v), want its primary \"v2\"", v, primary, ok)
	}
	if got := replmap.Held(b.m, "k"); got != "v2" {
		t.Fatalf("B's backup of k = %#v after the forward, want \"v2\": the removal dropped the Put's backup", got)
	}
	if got := get(t, b, "k"); got != "v2" {
		t.Fatalf("B's Get of k = %#v", got)
	}
}

// A Get of a key that takes the entry over (here A became the backup of the key for
// another member since the forward's check) returns while the forwarded removal of the
// key is blocked in its send to B; before, it waited for that send as a Put did. B then
// holds the value A's Get published, not a removal.
func TestGetDoesNotWaitForAForwardOfItsKey(t *testing.T) {
	a, b, release := forwardHeld(t)
	if err := replmap.ReceiveBackup(a.m, stranger, "k", "v3"); err != nil {
		t.Fatal(err)
	}
	type result struct {
		v   any
		ok  bool
		err error
	}
	got := make(chan result, 1)
	go func() {
		v, ok, err := a.m.Get(context.Background(), "k") // ends once released
		got <- result{v, ok, err}
	}()
	select {
	case r := <-got:
		if r.err != nil || !r.ok || r.v != "v3" {
			t.Fatalf("A's Get of k = %#v, %v, %v", r.v, r.ok, r.err)
		}
	case <-ctx(t).Done():
		release()
		<-got
		t.Fatal("A's Get of k waited for the forwarded removal of k blocked in its send")
	}
	release()
	forwardsDone(t, a)
	if v, primary, ok := a.m.Peek("k"); !ok || !primary || v != "v3" {
		t.Fatalf("A's k = %#v (primary %v, held %v), want its primary \"v3\"", v, primary, ok)
	}
	if got := replmap.Held(b.m, "k"); got != "v3" {
		t.Fatalf("B's backup of k = %#v after the forward, want \"v3\"", got)
	}
}
