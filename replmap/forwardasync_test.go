package replmap_test

import (
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/interceptors"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/replmap"
)

// A forwarded removal (forward.go) covers a Replicate's MSG_BACKUP whose send returned
// while the message was still on its way: p sends with OptAsync through the message
// dispatch interceptor, whose queue holds p's Replicate in full of k (held below the
// dispatch: the Replicate returned nil, its key lock released). r removes k0 (p's
// forward of it to b held, so that k's waits behind it) and puts k naming b its backup:
// r's MSG_REMOVE drops p's primary of k, its MSG_BACKUP gives b the value, its
// MSG_PROXY makes p a proxy. Then p's held MSG_BACKUP reaches b and replaces r's backup
// there with p's value, naming p the primary, which p no longer is. Before, p's forward
// of k was not sent: p held the key again as r's proxy and no send of k was under way
// by the key lock when the removal came, and b kept that value naming p for good (a Get
// on a proxy fetching it, r's departure leaving it the value). Now a send of the key
// queued by the dispatch and not completed counts as under way, and the forward waits
// for it to complete before it is sent: b drops the value naming p, r holding the
// primary of its value (its backup on b lost until its next Replicate in full). p took
// k over by a Get as a proxy, so that its value's clock is unknown (stamp.go), as a Java
// node's is: with it known, r's Put's is larger and b does not apply p's late
// MSG_BACKUP at all (TestPutsBackupCrossedByTheOldPrimarysReplicateKeepsThePut).
func TestForwardedRemoveCoversAnAsyncReplicateStillOnItsWay(t *testing.T) {
	nw := channeltest.NewNetwork()
	holdBackup := &holdSend{typ: msgBackupType, held: make(chan struct{}), release: make(chan struct{})}
	holdRemove := &holdSend{typ: msgRemoveType, held: make(chan struct{}), release: make(chan struct{})}
	var once [2]sync.Once
	release := func(i int, h *holdSend) { once[i].Do(func() { close(h.release) }) }
	t.Cleanup(func() { release(0, holdBackup); release(1, holdRemove) })
	d, err := interceptors.NewMessageDispatch(interceptors.DispatchConfig{})
	if err != nil {
		t.Fatal(err)
	}
	tn := nw.NewNode()
	ch, err := channel.New(channel.Config{Transport: tn.Transport(), Membership: tn.Membership(),
		Interceptors: []channel.Interceptor{holdRemove, d, holdBackup}, HeartbeatInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	channeltest.Start(t, ch)
	p := &node{ch: ch, tn: tn}
	r, b := newChannel(t, nw), newChannel(t, nw)
	nodes := []*node{p, r, b}
	for _, n := range nodes {
		waitChannelMembers(t, n, 2)
	}
	newMap(t, p, replmap.Config{SendOptions: syncAck | channel.OptAsync})
	newMap(t, r, replmap.Config{SendOptions: syncAck})
	newMap(t, b, replmap.Config{SendOptions: syncAck})
	for _, n := range nodes {
		start(t, n)
	}
	waitMapMembers(t, nodes, 2)
	const k0, k = "k0", "k"
	replmap.SetNextBackup(r.m, b.ch.LocalMember())
	if _, err := r.m.Put(ctx(t), k, "v1"); err != nil {
		t.Fatal(err)
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "p a proxy of r's k", func() bool {
		return slices.Contains(p.m.Keys(), any(k))
	})
	for _, key := range []string{k0, k} {
		if key == k0 {
			replmap.SetNextBackup(p.m, b.ch.LocalMember())
			if _, err := p.m.Put(ctx(t), key, "v1"); err != nil {
				t.Fatal(err)
			}
		} else if v, ok, err := p.m.Get(ctx(t), key); err != nil || !ok || v != "v1" {
			t.Fatalf("p's Get of %s: %v, %v, %v", key, v, ok, err)
		}
		if c := replmap.Clock(p.m, key); key == k && c != 0 {
			t.Fatalf("p's clock of k %d, want unknown (0) after its Get as a proxy", c)
		}
		testutil.EventuallyTrue(t, testutil.WaitLimit, "b the backup of p's "+key, func() bool {
			bp, _ := replmap.Primary(b.m, key)
			v, primary, held := b.m.Peek(key)
			return held && !primary && v == "v1" && bp.Key() == p.ch.LocalMember().Key()
		})
		// And r its proxy: p's MSG_PROXY, queued too, must not reach r after r's Put.
		testutil.EventuallyTrue(t, testutil.WaitLimit, "r a proxy of p's "+key, func() bool {
			rp, _ := replmap.Primary(r.m, key)
			_, _, held := r.m.Peek(key)
			return slices.Contains(r.m.Keys(), any(key)) && !held && rp.Key() == p.ch.LocalMember().Key()
		})
	}
	holdBackup.armed.Store(true)
	if err := p.m.Replicate(ctx(t), k, true); err != nil {
		t.Fatal(err)
	}
	<-holdBackup.held // p's MSG_BACKUP of k to b, queued: the Replicate returned
	holdRemove.armed.Store(true)
	if _, err := r.m.Remove(ctx(t), k0); err != nil {
		t.Fatal(err)
	}
	<-holdRemove.held // p's forward of k0 to b
	replmap.SetNextBackup(r.m, b.ch.LocalMember())
	if _, err := r.m.Put(ctx(t), k, "v2"); err != nil {
		t.Fatal(err)
	}
	if v, primary, held := b.m.Peek(k); !held || primary || v != "v2" {
		t.Fatalf("b holds %v (held %v, primary %v), want r's backup of v2", v, held, primary)
	}
	release(1, holdRemove)
	release(0, holdBackup)
	testutil.Eventually(t, testutil.WaitLimit, func() error {
		if v, _, held := b.m.Peek(k); held {
			return fmt.Errorf("b holds %v, want no value (p's MSG_BACKUP, naming p, dropped by p's forward)", v)
		}
		if v, primary, _ := r.m.Peek(k); v != "v2" || !primary {
			return fmt.Errorf("r holds %v (primary %v), want the primary of v2", v, primary)
		}
		return nil
	})
	// r's next Replicate in full gives b the value again.
	if err := r.m.Replicate(ctx(t), k, true); err != nil {
		t.Fatal(err)
	}
	if v, primary, held := b.m.Peek(k); !held || primary || v != "v2" {
		t.Fatalf("b holds %v (held %v, primary %v) after r's Replicate, want r's backup of v2", v, held, primary)
	}
}
