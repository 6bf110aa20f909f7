package replmap_test

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/replmap"
)

// holdRemoves holds, once armed, every MSG_REMOVE sent until release is closed, and
// counts those held at once (in) and the most ever held together (most).
type holdRemoves struct {
	channel.InterceptorBase
	armed    atomic.Bool
	release  chan struct{}
	in, most atomic.Int64
}

func (h *holdRemoves) SendMessage(ctx context.Context, to []channel.Member, msg *channel.Message) error {
	if h.armed.Load() && replmap.MessageType(msg.Data) == msgRemoveType {
		n := h.in.Add(1)
		for m := h.most.Load(); n > m && !h.most.CompareAndSwap(m, n); m = h.most.Load() {
		}
		select {
		case <-h.release:
		case <-ctx.Done():
		}
		h.in.Add(-1)
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	return h.Next().SendMessage(ctx, to, msg)
}

// The forwarded removals of nine backup nodes whose sends all block: eight goroutines
// send (DefaultMaxForwarders), the ninth node's queue waits without one, and once the
// sends are released a goroutine whose queue emptied takes it over, so that the ninth
// backup node too drops its backup. Nothing showed the bound or the takeover before: with
// no takeover the ninth queue would wait for ever, with no bound nine sends would be held.
func TestForwardersBoundedAndAWaitingQueueTakenOver(t *testing.T) {
	forwardersBounded(t, replmap.Config{}, 8)
}

// Config.MaxForwarders sets the bound: with 2, the forwarded removals of two backup
// nodes whose sends block hold both goroutines, a third node's queue waits without one,
// and it is served once the sends return; never more than two sends at once. With 1,
// one backup node's blocked send delays the other's.
func TestForwardersAtTheConfiguredCap(t *testing.T) {
	for _, limit := range []int{1, 2} {
		t.Run(fmt.Sprint(limit), func(t *testing.T) {
			forwardersBounded(t, replmap.Config{MaxForwarders: limit}, limit)
		})
	}
}

// forwardersBounded has A, a map with cfg, forward the removals of one key to each of
// limit+1 backup nodes, every send held: limit goroutines send (the bound), one node's
// queue waits without one until the sends are released; then every backup node drops
// its key.
func forwardersBounded(t *testing.T, cfg replmap.Config, limit int) {
	backups := limit + 1
	nw := channeltest.NewNetwork()
	hold := &holdRemoves{release: make(chan struct{})}
	var once sync.Once
	release := func() { once.Do(func() { close(hold.release) }) }
	nodes := []*node{newChannel(t, nw, hold)}
	for range backups {
		nodes = append(nodes, newChannel(t, nw))
	}
	for _, n := range nodes {
		waitChannelMembers(t, n, backups)
	}
	newMap(t, nodes[0], cfg)
	for _, n := range nodes[1:] {
		newMap(t, n, replmap.Config{})
	}
	for _, n := range nodes {
		start(t, n)
	}
	waitMapMembers(t, nodes, backups)
	t.Cleanup(release) // before the maps stop
	a := nodes[0]
	keys := backedUpBy(t, a, nodes[1:]...)

	hold.armed.Store(true)
	for _, k := range keys {
		if err := replmap.ReceiveRemove(a.m, stranger, k); err != nil {
			t.Fatal(err)
		}
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, fmt.Sprintf("%d forwards held and a queue waiting", limit), func() bool {
		workers, queues := replmap.Forwarders(a.m)
		return hold.in.Load() == int64(limit) && workers == limit && queues == backups
	})
	release()
	for i, n := range nodes[1:] {
		testutil.EventuallyTrue(t, testutil.WaitLimit, "the backup node dropping A's removed key", func() bool {
			_, _, held := n.m.Peek(keys[i])
			return !held
		})
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "no forwarder left", func() bool {
		workers, queues := replmap.Forwarders(a.m)
		return workers == 0 && queues == 0
	})
	if most := hold.most.Load(); most != int64(limit) {
		t.Fatalf("%d forwarded removals sent at once, want %d (the bound)", most, limit)
	}
}

// The forwarded removals queued for a backup node that leaves the map are dropped when
// it leaves. Before, they stayed queued, each taken in turn to find the node gone (and
// with every goroutine busy elsewhere, a queue waiting for one kept them until one was
// free). Here A's forward to B of k0 is held, k1 and k2 wait behind it, and B stops.
func TestForwardsQueuedForALeavingMemberDropped(t *testing.T) {
	nw := channeltest.NewNetwork()
	block := &removesTo{held: make(chan struct{}), release: make(chan struct{})}
	var once sync.Once
	release := func() { once.Do(func() { close(block.release) }) }
	a, b := twoMaps(t, nw, replmap.Config{}, replmap.Config{}, block)
	t.Cleanup(release) // before the maps stop
	keys := []string{"k0", "k1", "k2"}
	for _, k := range keys {
		if _, err := a.m.Put(ctx(t), k, "v"); err != nil {
			t.Fatal(err)
		}
	}
	bm := b.ch.LocalMember()
	block.target.Store(&bm)
	if err := replmap.ReceiveRemove(a.m, stranger, keys[0]); err != nil {
		t.Fatal(err)
	}
	select {
	case <-block.held:
	case <-ctx(t).Done():
		t.Fatal("A did not forward the removal of its primary to B")
	}
	for _, k := range keys[1:] {
		if err := replmap.ReceiveRemove(a.m, stranger, k); err != nil {
			t.Fatal(err)
		}
	}
	if n := replmap.ForwardQueued(a.m); n != 2 {
		t.Fatalf("%d forwarded removals queued behind the held one, want 2", n)
	}
	if err := b.m.Stop(ctx(t)); err != nil {
		t.Fatal(err)
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "B gone from A's map members", func() bool { return len(a.m.Members()) == 0 })
	if n := replmap.ForwardQueued(a.m); n != 0 {
		t.Fatalf("%d forwarded removals still queued for B, which left", n)
	}
	release()
	testutil.EventuallyTrue(t, testutil.WaitLimit, "no forwarder left", func() bool {
		workers, queues := replmap.Forwarders(a.m)
		return workers == 0 && queues == 0
	})
}

// Stop ends a forwarded removal blocked in its send (its context is the map's life,
// which Stop ends) and waits for its goroutine, which leaves the keys queued behind it
// unsent; a send so ended is neither counted in Stats.ForwardedRemovesFailed nor logged.
// Here A's send to B blocks until its context ends, and A's Stop (with no deadline of
// its own) returns within the test's with no forwarder left (goleak checks the
// goroutines at the end).
func TestStopEndsAForwardBlockedInItsSend(t *testing.T) {
	nw := channeltest.NewNetwork()
	block := &removesTo{held: make(chan struct{}), release: make(chan struct{})} // released only on failure
	log := &lineLog{text: "removal of a primary not sent"}
	a, b := twoMaps(t, nw, replmap.Config{Logger: slog.New(log)}, replmap.Config{}, block)
	keys := []string{"k0", "k1"}
	for _, k := range keys {
		if _, err := a.m.Put(ctx(t), k, "v"); err != nil {
			t.Fatal(err)
		}
	}
	bm := b.ch.LocalMember()
	block.target.Store(&bm)
	for _, k := range keys {
		if err := replmap.ReceiveRemove(a.m, stranger, k); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-block.held:
	case <-ctx(t).Done():
		t.Fatal("A did not forward the removal of its primary to B")
	}
	stopped := make(chan error, 1)
	go func() { stopped <- a.m.Stop(context.Background()) }()
	select {
	case err := <-stopped:
		if err != nil {
			t.Fatalf("A's Stop with a forward blocked in its send: %v", err)
		}
	case <-ctx(t).Done():
		close(block.release) // lets the send and the Stop end
		<-stopped
		t.Fatal("A's Stop did not end the forward blocked in its send")
	}
	if workers, queues := replmap.Forwarders(a.m); workers != 0 || queues != 0 {
		t.Fatalf("after Stop: %d forwarders, %d queues, want none", workers, queues)
	}
	if n := a.m.Stats().ForwardedRemovesFailed; n != 0 {
		t.Fatalf("ForwardedRemovesFailed = %d after a send the Stop ended, want 0", n)
	}
	if n := log.n.Load(); n != 0 {
		t.Fatalf("%d lines logged for a send the Stop ended, want 0", n)
	}
	for _, k := range keys {
		if got := replmap.Held(b.m, k); got != "v" {
			t.Fatalf("B's backup of %s = %#v: a forward reached it", k, got)
		}
	}
}
