package replmap_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/replmap"
)

const msgRemoveType = 4 // Java's MSG_REMOVE

// holdSend holds the first message of type typ sent once armed until release is closed.
type holdSend struct {
	channel.InterceptorBase
	typ           int
	armed         atomic.Bool
	held, release chan struct{}
}

func (h *holdSend) SendMessage(ctx context.Context, to []channel.Member, msg *channel.Message) error {
	if replmap.MessageType(msg.Data) == h.typ && h.armed.CompareAndSwap(true, false) {
		close(h.held)
		<-h.release
	}
	return h.Next().SendMessage(ctx, to, msg)
}

// putRemoveCluster starts three nodes with synchronized ACKs (every message sent is
// applied when its send returns), the first one's sends passing through a holdSend of
// typ, and returns them, the holdSend and the function that releases its message (also
// called at cleanup, before the maps stop).
func putRemoveCluster(t *testing.T, typ int) ([]*node, *holdSend, func()) {
	nw := channeltest.NewNetwork()
	hold := &holdSend{typ: typ, held: make(chan struct{}), release: make(chan struct{})}
	var once sync.Once
	release := func() { once.Do(func() { close(hold.release) }) }
	nodes := []*node{newChannel(t, nw, hold), newChannel(t, nw), newChannel(t, nw)}
	for _, n := range nodes {
		testutil.EventuallyTrue(t, testutil.WaitLimit, "channel members", func() bool { return len(n.ch.Members()) == 2 })
	}
	for _, n := range nodes {
		newMap(t, n, replmap.Config{SendOptions: syncAck})
	}
	for _, n := range nodes {
		start(t, n)
	}
	waitMapMembers(t, nodes, 2)
	t.Cleanup(release)
	return nodes, hold, release
}

// await returns what c delivers, failing the test when nothing comes within WaitLimit.
func await(t *testing.T, what string, c <-chan error) error {
	t.Helper()
	select {
	case err := <-c:
		return err
	case <-time.After(testutil.WaitLimit):
		t.Fatalf("%s has not returned", what)
		return nil
	}
}

// noUnbackedEntry fails the test unless, once A's Put and Remove of "k" returned, either
// no node holds the key, or A is its primary and exactly one other node backs it up.
func noUnbackedEntry(t *testing.T, nodes []*node) {
	t.Helper()
	if n := replmap.KeyReplicatesListed(nodes[0].m); n != 0 {
		t.Errorf("A lists %d keys for Put once its Put and Remove returned, want 0", n)
	}
	if _, primary, held := nodes[0].m.Peek("k"); held && primary {
		backups := 0
		for _, n := range nodes[1:] {
			if replmap.Held(n.m, "k") == "v" {
				backups++
			}
		}
		if backups != 1 {
			t.Errorf("A holds k as its primary once its Put and Remove returned, but %d nodes back it up, want 1", backups)
		}
		return
	}
	for i, n := range nodes {
		if keys := n.m.Keys(); len(keys) != 0 {
			t.Errorf("node %d holds %v once A's Put and Remove returned", i, keys)
		}
	}
}

// A's Put of a new key has sent its MSG_BACKUP, and its MSG_PROXY to the third node
// waits, when a Remove of the key on A runs. Before, the Remove found no entry yet, its
// MSG_REMOVE dropped the backup's copy, and the Put then stored its entry: both returned
// nil, and A was left the primary of a value no other node held (a Get on the third node
// failed). Now the Remove returns without waiting for the Put (it takes no key lock: see
// session/backup TestLogoutDuringTakeover), the Put notices it, stores nothing and
// removes the key again, and no node holds the key after both.
func TestRemoveDuringAPutLeavesNoUnbackedEntry(t *testing.T) {
	nodes, hold, release := putRemoveCluster(t, msgProxyType)
	a := nodes[0]
	hold.armed.Store(true)
	put := make(chan error, 1)
	go func() {
		_, err := a.m.Put(ctx(t), "k", "v")
		put <- err
	}()
	select {
	case <-hold.held: // the Put sent its MSG_BACKUP; its MSG_PROXY waits
	case err := <-put:
		t.Fatalf("A's Put returned (%v) without sending a proxy", err)
	}
	removed := make(chan error, 1)
	go func() {
		_, err := a.m.Remove(ctx(t), "k")
		removed <- err
	}()
	if err := await(t, "A's Remove, while its Put's MSG_PROXY waits,", removed); err != nil {
		t.Fatalf("A's Remove: %v", err)
	}
	release()
	if err := await(t, "A's Put", put); err != nil {
		t.Fatalf("A's Put: %v", err)
	}
	noUnbackedEntry(t, nodes)
	if _, _, held := a.m.Peek("k"); held {
		t.Errorf("A holds k once its Remove, which ran while its Put sent, returned")
	}
}

// A's Remove of a key it holds no entry for has dropped it locally, its MSG_REMOVE
// held (a slow member), when a Put of the key on A starts. Before, the Put, which the
// Remove overlapped, stored nothing and returned nil: every Put of the key was lost
// while the Remove was stuck. Now the Put waits for the Remove and stores after it: A is
// the key's primary, one node backs it up and the third holds a proxy.
func TestPutDuringAStuckRemoveStoresAfterIt(t *testing.T) {
	nodes, hold, release := putRemoveCluster(t, msgRemoveType)
	a := nodes[0]
	removed := heldRemove(t, a, hold)
	put := make(chan error, 1)
	go func() {
		_, err := a.m.Put(ctx(t), "k", "v")
		put <- err
	}()
	testutil.EventuallyTrue(t, testutil.WaitLimit, "A's Put takes the key's lock", func() bool { return replmap.KeyLockRefs(a.m, "k") == 1 })
	select {
	case err := <-put:
		t.Fatalf("A's Put returned (%v) while the Remove before it was stuck", err)
	default:
	}
	release()
	if err := await(t, "A's Remove", removed); err != nil {
		t.Fatalf("A's Remove: %v", err)
	}
	if err := await(t, "A's Put", put); err != nil {
		t.Fatalf("A's Put: %v", err)
	}
	if v, primary, held := a.m.Peek("k"); !held || !primary || v != "v" {
		t.Fatalf("A holds k: %v, primary %v, value %v; want its Put's value as the primary", held, primary, v)
	}
	noUnbackedEntry(t, nodes)
	for i, n := range nodes {
		if keys := n.m.Keys(); len(keys) != 1 {
			t.Errorf("node %d holds %v, want k", i, keys)
		}
	}
}

// A Put waiting for a stuck Remove of its key (as above) whose context ends returns the
// context's error, having stored and sent nothing: no node holds the key once the
// Remove returned.
func TestPutWaitingForAStuckRemoveEndsWithItsContext(t *testing.T) {
	nodes, hold, release := putRemoveCluster(t, msgRemoveType)
	a := nodes[0]
	removed := heldRemove(t, a, hold)
	pctx, cancel := context.WithCancel(ctx(t))
	defer cancel()
	put := make(chan error, 1)
	go func() {
		_, err := a.m.Put(pctx, "k", "v")
		put <- err
	}()
	testutil.EventuallyTrue(t, testutil.WaitLimit, "A's Put takes the key's lock", func() bool { return replmap.KeyLockRefs(a.m, "k") == 1 })
	cancel()
	if err := await(t, "A's Put", put); !errors.Is(err, context.Canceled) {
		t.Errorf("A's Put, its context cancelled while it waited for the Remove: %v, want context.Canceled", err)
	}
	release()
	if err := await(t, "A's Remove", removed); err != nil {
		t.Fatalf("A's Remove: %v", err)
	}
	for i, n := range nodes {
		if keys := n.m.Keys(); len(keys) != 0 {
			t.Errorf("node %d holds %v after a Put that gave up", i, keys)
		}
	}
	if n := replmap.KeyReplicatesListed(a.m); n != 0 {
		t.Errorf("A lists %d keys for Put once its Put and Remove returned, want 0", n)
	}
	if n := replmap.KeyLockRefs(a.m, "k"); n != 0 {
		t.Errorf("A lists %d holders of k's lock once its Put returned, want 0", n)
	}
}

// heldRemove starts a Remove of "k" on a, whose sends pass through hold (of
// MSG_REMOVE), and returns once its MSG_REMOVE is held, with the channel that delivers
// its error.
func heldRemove(t *testing.T, a *node, hold *holdSend) <-chan error {
	t.Helper()
	hold.armed.Store(true)
	removed := make(chan error, 1)
	go func() {
		_, err := a.m.Remove(ctx(t), "k")
		removed <- err
	}()
	select {
	case <-hold.held: // the Remove's MSG_REMOVE waits
	case err := <-removed:
		t.Fatalf("A's Remove returned (%v) without sending MSG_REMOVE", err)
	}
	return removed
}
