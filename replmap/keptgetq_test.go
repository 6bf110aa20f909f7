package replmap_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/replmap"
)

// The sequence of passBackupSeesThePassNodeGoneFirst to its step 3 (a's departure pass
// of x's backup, stamped: its MSG_BACKUP of a's older value to q and its MSG_PROXY to
// w, which keeps its Put's value), then, a still alive, a Get on q: q, a backup of a's
// older value, takes the entry over and publishes it with its stamp, its MSG_BACKUP
// to w first, which w takes for the pass's value (supersededLocked): w is the primary
// of its Put's value again and publishes it anew at once, on a goroutine, while q's Get
// still publishes (its MSG_PROXY to a held here until w's publish has reached q). q's
// Get made q the primary of the older value over what w's publish made of its entry:
// two primaries, w's Put's value, acknowledged, on w alone (a made a proxy of q by q's
// MSG_PROXY), lost when w died (without the hold, about 1 run in 30 under -race). Now
// q's Get sees another member's publish crossed it and runs again: one primary of the
// Put's value, a second node holding it, which survives the primary's death.
func TestKeptValueRestoredCrossesTheGetThatPublishedTheOlderValue(t *testing.T) {
	const k = "k"
	hold := &holdSend{typ: msgProxyType, held: make(chan struct{}), release: make(chan struct{})}
	var once sync.Once
	release := func() { once.Do(func() { close(hold.release) }) }
	t.Cleanup(release)
	nw, nodes, v := keptBesidePassBackup(t, 2, hold, replmap.Config{})
	w, a, q := nodes[0], nodes[1], nodes[2]
	wm := w.ch.LocalMember()
	// q's Get: its MSG_BACKUP to w, its MSG_PROXY to a held.
	replmap.SetNextBackup(q.m, wm)
	hold.armed.Store(true)
	got := make(chan any, 1)
	go func() {
		v, _, err := q.m.Get(ctx(t), k)
		if err != nil {
			t.Error(err)
		}
		got <- v
	}()
	<-hold.held
	testutil.EventuallyTrue(t, testutil.WaitLimit, "w the primary of its Put's value again, its publish anew reaching q", func() bool {
		wv, wp, _ := w.m.Peek(k)
		p, ok := replmap.Primary(q.m, k)
		return wp && wv == v && ok && p.Key() == wm.Key()
	})
	release()
	if g := <-got; g != v {
		t.Fatalf("q's Get returned the older value %v, want the Put's", g == "older")
	}
	var primary *node
	testutil.Eventually(t, testutil.WaitLimit, func() error {
		primary = nil
		primaries, holders := 0, 0
		for _, n := range []*node{w, a, q} {
			nv, np, _ := n.m.Peek(k)
			if nv == "older" {
				return fmt.Errorf("%v holds the older value", n.ch.LocalMember())
			}
			if nv == v {
				holders++
			}
			if np {
				primaries++
				primary = n
			}
		}
		if primaries != 1 || holders != 2 || primary == nil {
			return fmt.Errorf("%d primaries, %d nodes hold the Put's value: want 1 and 2", primaries, holders)
		}
		if pv, _, _ := primary.m.Peek(k); pv != v {
			return fmt.Errorf("the primary holds no value of the Put")
		}
		return nil
	})
	// The primary dies: the Put's value, acknowledged, stays.
	var rest []*node
	for _, n := range []*node{w, a, q} {
		if n != primary {
			rest = append(rest, n)
		}
	}
	nw.Kill(primary.tn)
	waitMapMembers(t, rest, 1)
	for _, n := range rest {
		g, ok, err := n.m.Get(ctx(t), k)
		if err != nil || !ok || g != v {
			t.Fatalf("Get after the primary's death: %v, %v, older value %v: want the Put's value", ok, err, g == "older")
		}
	}
}

// keptBesidePassBackup builds passBackupSeesThePassNodeGoneFirst's sequence to its
// step 3 with stamped messages (stamp keptStamp), on four maps of cfg, extra's sends
// passing the node at index at: it returns the network, the nodes w, a, q and x
// (killed) and the Put's value w keeps, q holding a's older value as its backup.
func keptBesidePassBackup(t *testing.T, at int, extra channel.Interceptor, cfg replmap.Config) (*channeltest.Network, []*node, string) {
	t.Helper()
	const k = "k"
	nw := channeltest.NewNetwork()
	nodes := make([]*node, 4)
	for i := range nodes {
		if i == at && extra != nil {
			nodes[i] = newChannel(t, nw, extra)
		} else {
			nodes[i] = newChannel(t, nw)
		}
	}
	for _, n := range nodes {
		waitChannelMembers(t, n, 3)
	}
	for _, n := range nodes {
		newMap(t, n, cfg)
	}
	for _, n := range nodes {
		start(t, n)
	}
	waitMapMembers(t, nodes, 3)
	w, a, q, x := nodes[0], nodes[1], nodes[2], nodes[3]
	am, qm, xm := a.ch.LocalMember(), q.ch.LocalMember(), x.ch.LocalMember()
	nw.Kill(x.tn)
	waitMapMembers(t, nodes[:3], 2)
	if err := replmap.ReceiveProxyStamped(w.m, am, k, xm, keptStamp); err != nil {
		t.Fatal(err)
	}
	replmap.SetNextBackup(w.m, am)
	v := strings.Repeat("v", 64<<10)
	if _, err := w.m.Put(ctx(t), k, v); err != nil {
		t.Fatal(err)
	}
	if err := replmap.ReceiveBackupStamped(q.m, am, k, "older", keptStamp); err != nil {
		t.Fatal(err)
	}
	if err := replmap.ReceiveProxyStamped(w.m, am, k, qm, keptStamp); err != nil {
		t.Fatal(err)
	}
	if n, _ := replmap.KeptValues(w.m); n != 1 {
		t.Fatalf("w keeps %d values, want 1", n)
	}
	return nw, nodes, v
}

// keptStamp is the stamp of a's older value in keptBesidePassBackup.
const keptStamp = 0x5eed
