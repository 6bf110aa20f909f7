package replmap_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/replmap"
)

// failType fails, once armed, every message of one MapMessage type.
type failType struct {
	channel.InterceptorBase
	typ   int
	armed atomic.Bool
}

func (f *failType) SendMessage(ctx context.Context, to []channel.Member, msg *channel.Message) error {
	if f.armed.Load() && replmap.MessageType(msg.Data) == f.typ {
		return errors.New("test: send refused")
	}
	return f.Next().SendMessage(ctx, to, msg)
}

// A Replicate of an entry without a backup node publishes it first (republishKey), which
// waits for a forwarded removal of the key under way; when the Replicate's ctx ends
// meanwhile, it returns an error wrapping ctx's, leaves no waiter and no key lock, and a
// later Replicate and Put of the key work. Nothing showed it before.
func TestReplicateEndsWithItsContextWhileWaitingForAForward(t *testing.T) {
	nw := channeltest.NewNetwork()
	block := &removesTo{held: make(chan struct{}), release: make(chan struct{})}
	var once sync.Once
	release := func() { once.Do(func() { close(block.release) }) }
	fail := &failType{typ: msgBackupType}
	a, b := newChannel(t, nw, block, fail), newChannel(t, nw)
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
	// A becomes the backup of k for another member, takes it over with a Get, and B
	// refuses the backup: A holds k as its primary without a backup node.
	if err := replmap.ReceiveBackup(a.m, stranger, "k", "v2"); err != nil {
		t.Fatal(err)
	}
	fail.armed.Store(true)
	if got := get(t, a, "k"); got != "v2" {
		t.Fatalf("A's Get of k = %#v", got)
	}
	fail.armed.Store(false)
	rctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	replicated := make(chan error, 1)
	go func() { replicated <- a.m.Replicate(rctx, "k", true) }()
	testutil.EventuallyTrue(t, testutil.WaitLimit, "A's Replicate waiting for the forward", func() bool {
		return replmap.ForwardWaiters(a.m) == 1
	})
	cancel()
	select {
	case err := <-replicated:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("A's Replicate whose ctx ended while it waited: %v, want context.Canceled", err)
		}
	case <-ctx(t).Done():
		release()
		t.Fatal("A's Replicate did not return when its ctx ended")
	}
	if n := replmap.ForwardWaiters(a.m); n != 0 {
		t.Fatalf("%d republishes still waiting for the forward", n)
	}
	if n := replmap.KeyLockRefs(a.m, "k"); n != 0 {
		t.Fatalf("%d goroutines hold or wait for k's send lock", n)
	}
	release()
	forwardsDone(t, a)
	if err := a.m.Replicate(ctx(t), "k", true); err != nil {
		t.Fatalf("A's Replicate of k after the forward: %v", err)
	}
	if got := replmap.Held(b.m, "k"); got != "v2" {
		t.Fatalf("B's backup of k = %#v, want \"v2\"", got)
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

// A Put whose backup leaves the map before the Put recorded it publishes the entry
// anew (republishKey), which waits for a forwarded removal of the key under way; when
// the Put's ctx ends meanwhile, it returns an error wrapping ctx's, leaves no waiter and
// no key lock, and a later Replicate publishes the entry, which names only the member
// that left, to the member that is left (it sent it to the departed one before, and
// failed), and a later Put of the key works.
func TestPutEndsWithItsContextWhileWaitingForAForward(t *testing.T) {
	nw := channeltest.NewNetwork()
	block := &removesTo{held: make(chan struct{}), release: make(chan struct{})}
	var once sync.Once
	release := func() { once.Do(func() { close(block.release) }) }
	a, b, c := newChannel(t, nw, block), newChannel(t, nw), newChannel(t, nw)
	nodes := []*node{a, b, c}
	for _, n := range nodes {
		waitChannelMembers(t, n, 2)
	}
	for _, n := range nodes {
		newMap(t, n, replmap.Config{})
	}
	for _, n := range nodes {
		start(t, n)
	}
	waitMapMembers(t, nodes, 2)
	t.Cleanup(release) // before the maps stop
	k := backedUpBy(t, a, b)[0]
	bm := b.ch.LocalMember()
	block.target.Store(&bm)
	if err := replmap.ReceiveRemove(a.m, stranger, k); err != nil {
		t.Fatal(err)
	}
	select {
	case <-block.held:
	case <-ctx(t).Done():
		t.Fatal("A did not forward the removal of its primary to B")
	}
	// The Put's MSG_PROXY is held on the node it reaches, while the Put's backup dies.
	var armed atomic.Bool
	armed.Store(true)
	blocked := make(chan int, 1)
	proxyRelease := make(chan struct{})
	var proxyOnce sync.Once
	releaseProxy := func() { proxyOnce.Do(func() { close(proxyRelease) }) }
	t.Cleanup(releaseProxy)
	for i := 1; i < 3; i++ {
		remove := nodes[i].ch.AddMessageListener(channel.MessageListenerFunc(func(msg *channel.Message) error {
			if replmap.MessageType(msg.Data) == msgProxyType && armed.CompareAndSwap(true, false) {
				blocked <- i
				<-proxyRelease
			}
			return nil
		}))
		t.Cleanup(remove)
	}
	pctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	put := make(chan error, 1)
	go func() {
		_, err := a.m.Put(pctx, k, "v2")
		put <- err
	}()
	var left, kept *node
	select {
	case i := <-blocked:
		kept, left = nodes[i], nodes[3-i]
	case err := <-put:
		t.Fatalf("Put returned (%v) before its MSG_PROXY reached the proxy", err)
	}
	nw.Kill(left.tn)
	testutil.EventuallyTrue(t, testutil.WaitLimit, "A dropping the dead backup", func() bool {
		return len(a.m.Members()) == 1
	})
	releaseProxy()
	testutil.EventuallyTrue(t, testutil.WaitLimit, "A's Put waiting for the forward", func() bool {
		return replmap.ForwardWaiters(a.m) == 1
	})
	cancel()
	select {
	case err := <-put:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("A's Put whose ctx ended while it waited: %v, want context.Canceled", err)
		}
	case <-ctx(t).Done():
		release()
		t.Fatal("A's Put did not return when its ctx ended")
	}
	if n := replmap.ForwardWaiters(a.m); n != 0 {
		t.Fatalf("%d republishes still waiting for the forward", n)
	}
	if n := replmap.KeyLockRefs(a.m, k); n != 0 {
		t.Fatalf("%d goroutines hold or wait for the key's send lock", n)
	}
	release()
	forwardsDone(t, a)
	if err := a.m.Replicate(ctx(t), k, true); err != nil {
		t.Fatalf("A's Replicate of the key after the forward: %v", err)
	}
	if got := replmap.Held(kept.m, k); got != "v2" {
		t.Fatalf("the remaining member's backup of the key = %#v, want \"v2\"", got)
	}
	if _, err := a.m.Put(ctx(t), k, "v3"); err != nil {
		t.Fatal(err)
	}
	if got := replmap.Held(kept.m, k); got != "v3" {
		t.Fatalf("the remaining member's backup of the key = %#v after the Put, want \"v3\"", got)
	}
}
