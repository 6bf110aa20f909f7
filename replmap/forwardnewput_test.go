package replmap_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/replmap"
)

// removesCounted counts the MSG_REMOVEs sent to target once it is set, holding the
// first until release is closed (held closed when it comes).
type removesCounted struct {
	channel.InterceptorBase
	target        atomic.Pointer[channel.Member]
	n             atomic.Int64
	once          sync.Once
	held, release chan struct{}
}

func (r *removesCounted) SendMessage(ctx context.Context, to []channel.Member, msg *channel.Message) error {
	if t := r.target.Load(); t != nil && replmap.MessageType(msg.Data) == msgRemoveType &&
		len(to) == 1 && to[0].Key() == t.Key() {
		r.n.Add(1)
		r.once.Do(func() {
			close(r.held)
			select {
			case <-r.release:
			case <-ctx.Done():
			}
		})
	}
	return r.Next().SendMessage(ctx, to, msg)
}

// The removal w forwards to its backup b once another node r's Put dropped w's primary
// of k1 (r's MSG_REMOVE) is not sent when w's forward runs after r's Put returned, w then
// holding r's proxy and b r's backup of the new value, no send of k1 by w under way when
// the removal came: here w's forward of k1 waits behind its held forward of k0 to b. A
// Go backup ignores such a removal (it names w, b's entry names r), but a Java backup
// drops the key on any MSG_REMOVE, r's backup of an acknowledged Put then lost
// (interop/maps' TestForwardedRemoveKeepsAJavaBackupOfANewerGoPut). Failed before
// (ada317d sent it whenever w held no primary of the key: two removals reached b).
func TestForwardedRemoveAfterANewPutOnAnotherNode(t *testing.T) {
	nw := channeltest.NewNetwork()
	rc := &removesCounted{held: make(chan struct{}), release: make(chan struct{})}
	var once sync.Once
	release := func() { once.Do(func() { close(rc.release) }) }
	w, r, b := newChannel(t, nw, rc), newChannel(t, nw), newChannel(t, nw)
	nodes := []*node{w, r, b}
	for _, n := range nodes {
		waitChannelMembers(t, n, 2)
	}
	for _, n := range nodes {
		newMap(t, n, replmap.Config{SendOptions: syncAck})
	}
	for _, n := range nodes {
		start(t, n)
	}
	waitMapMembers(t, nodes, 2)
	t.Cleanup(release) // before the maps stop
	bm := b.ch.LocalMember()
	for _, k := range []string{"k0", "k1"} {
		replmap.SetNextBackup(w.m, bm)
		if _, err := w.m.Put(ctx(t), k, "v1"); err != nil {
			t.Fatal(err)
		}
		if replmap.Held(b.m, k) != "v1" {
			t.Fatalf("b holds no backup of %s", k)
		}
	}
	rc.target.Store(&bm)
	if err := replmap.ReceiveRemove(w.m, stranger, "k0"); err != nil {
		t.Fatal(err)
	}
	<-rc.held // w's forward of k0 to b
	replmap.SetNextBackup(r.m, bm)
	if _, err := r.m.Put(ctx(t), "k1", "v2"); err != nil {
		t.Fatalf("r's Put: %v", err)
	}
	if v, primary, held := b.m.Peek("k1"); !held || primary || v != "v2" {
		t.Fatalf("b holds %v (held %v) after r's Put, want r's backup of v2", v, held)
	}
	if replmap.ForwardQueued(w.m) != 1 {
		t.Fatalf("w has %d forwards queued, want k1's", replmap.ForwardQueued(w.m))
	}
	release()
	testutil.EventuallyTrue(t, testutil.WaitLimit, "w's forwards done", func() bool {
		workers, _ := replmap.Forwarders(w.m)
		return replmap.ForwardQueued(w.m) == 0 && workers == 0
	})
	if _, _, held := b.m.Peek("k0"); held {
		t.Fatal("b holds k0 after w's forward of its removal")
	}
	if n := rc.n.Load(); n != 1 {
		t.Fatalf("%d removals sent to b, want k0's alone", n)
	}
	if v, primary, held := b.m.Peek("k1"); !held || primary || v != "v2" {
		t.Fatalf("b holds %v (held %v) after w's forward of k1, want r's backup of v2", v, held)
	}
	if v, primary, held := r.m.Peek("k1"); !held || !primary || v != "v2" {
		t.Fatalf("r holds %v (held %v, primary %v), want the primary of v2", v, held, primary)
	}
}
