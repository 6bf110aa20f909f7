package replmap_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/replmap"
)

// restoredBesideAThirdPut builds the sequence of
// TestKeptValueRestoredCrossesTheGetThatPublishedTheOlderValue to where w, keeping its
// Put's value, is made the primary of it again by q's Get (which takes a's older value
// over and publishes it with its stamp, naming w its backup) and publishes it anew on a
// goroutine (supersededLocked), on maps with synchronized ACKs. hold decides where
// w's publish anew waits: at w's first MSG_BACKUP (hold non-nil, armed here: the
// publish read its entry), or before it reads its entry (hold nil: a republish of the
// key marked under way, HoldRepublish). Then r (a, alive) puts "newer", naming rBackup its backup,
// and its Put returns: acknowledged, newer than w's value. It returns w, r and q, w's
// value, and the function that lets w's publish anew go on.
func restoredBesideAThirdPut(t *testing.T, hold *holdSend, rBackup func(w, q *node) *node) (w, r, q *node, v string, release func()) {
	t.Helper()
	const k = "k"
	var nodes []*node
	if hold != nil {
		var once sync.Once
		release = func() { once.Do(func() { close(hold.release) }) }
		t.Cleanup(release)
		_, nodes, v = keptBesidePassBackup(t, 0, hold, replmap.Config{SendOptions: syncAck})
	} else {
		_, nodes, v = keptBesidePassBackup(t, -1, nil, replmap.Config{SendOptions: syncAck})
	}
	w, r, q = nodes[0], nodes[1], nodes[2]
	if hold == nil {
		release = replmap.HoldRepublish(w.m, k)
		t.Cleanup(release)
	} else {
		hold.armed.Store(true)
	}
	replmap.SetNextBackup(q.m, w.ch.LocalMember())
	if _, _, err := q.m.Get(ctx(t), k); err != nil {
		t.Fatal(err)
	}
	if hold != nil {
		<-hold.held
	} else {
		testutil.EventuallyTrue(t, testutil.WaitLimit, "w's publish anew waiting", func() bool { return replmap.RepublishWaiters(w.m) == 1 })
	}
	if wv, wp, _ := w.m.Peek(k); !wp || wv != v {
		t.Fatalf("w is not the primary of its Put's value again:%s", shortState([]*node{w, r, q}, v))
	}
	replmap.SetNextBackup(r.m, rBackup(w, q).ch.LocalMember())
	if _, err := r.m.Put(ctx(t), k, "newer"); err != nil {
		t.Fatal(err)
	}
	rm := r.ch.LocalMember()
	for _, n := range []*node{w, q} {
		if p, ok := replmap.Primary(n.m, k); !ok || p.Key() != rm.Key() {
			t.Fatalf("r's Put not applied on every node:%s", shortState([]*node{w, r, q}, v))
		}
	}
	return w, r, q, v, release
}

// republishEnded waits until w's publish anew ended and returns the state of k on nodes.
func republishEnded(t *testing.T, w *node, nodes []*node, v string) string {
	t.Helper()
	testutil.EventuallyTrue(t, testutil.WaitLimit, "w's publish anew ended", func() bool { return replmap.PassesRunning(w.m) == 0 })
	return shortState(nodes, v)
}

// TestKeptValueRestoredThenAThirdNodesPutBeforeThePublishReadsTheEntry:
// restoredBesideAThirdPut, w's publish anew waiting before it reads its entry: r's Put
// reaches w first, and w's publish anew, when it runs, finds an entry no longer the
// local primary of the value it took back (a newer write named another primary) and
// publishes nothing. r's newer value is what a Get returns on every node, two nodes
// holding it, r its primary. Before that rule, r naming w its backup, w published r's
// value as its own primary (republishKey publishes a backup's entry), making r a
// proxy: the value held, the primary moved off the Put's node unasked; r naming q,
// w's entry a proxy, the publish anew already published nothing.
func TestKeptValueRestoredThenAThirdNodesPutBeforeThePublishReadsTheEntry(t *testing.T) {
	const k = "k"
	for _, c := range []struct {
		name    string
		rBackup func(w, q *node) *node
	}{
		{"r's backup q", func(_, q *node) *node { return q }},
		{"r's backup w", func(w, _ *node) *node { return w }},
	} {
		t.Run(c.name, func(t *testing.T) {
			w, r, q, v, release := restoredBesideAThirdPut(t, nil, c.rBackup)
			live := []*node{w, r, q}
			release()
			state := republishEnded(t, w, live, v)
			primaries, holders := 0, 0
			for _, n := range live {
				nv, np, _ := n.m.Peek(k)
				if nv == "newer" {
					holders++
				}
				if np {
					primaries++
				}
			}
			if primaries != 1 || holders != 2 {
				t.Fatalf("%d primaries, %d nodes hold r's value: want 1 and 2:%s", primaries, holders, state)
			}
			if rv, rp, _ := r.m.Peek(k); !rp || rv != "newer" {
				t.Fatalf("r is not the primary of its value:%s", state)
			}
			for _, n := range live {
				if g, ok, err := n.m.Get(ctx(t), k); err != nil || !ok || g != "newer" {
					t.Fatalf("Get on %v: %v, %v, w's value %v: want r's newer value:%s", n.ch.LocalMember(), ok, err, g == v, shortState(live, v))
				}
			}
		})
	}
}

// TestKeptValueRestoredCrossedInFlightByAThirdNodesPutKeepsIt: restoredBesideAThirdPut,
// w's publish anew held at its first MSG_BACKUP, after it read its entry, r's Put naming
// q its backup: r's Put reaches w while w publishes, and w's MSG_BACKUP and MSG_PROXY,
// naming w the primary of its older value, reach q and r after r's Put returned. They
// carry the clock of w's Put, which r heard of before its own Put (w's MSG_BACKUP to
// r): r's Put's clock is larger, so q and r do not apply them (stamp.go, olderLocked;
// Stats.OlderIgnored), and w, seeing its entry taken over while it published, leaves it
// so. r's acknowledged newer value stays: r its primary, q its backup, w a proxy, and a
// Get on every node returns it. Before the clocks (pinned until then), q and r applied w's messages as they would a newer put's: no node was
// r's value's primary, q held w's older value, which a Get there returned. The rule
// that abandons the publish anew (republishKey's restored) applies only until the
// publish reads its entry
// (TestKeptValueRestoredThenAThirdNodesPutBeforeThePublishReadsTheEntry).
func TestKeptValueRestoredCrossedInFlightByAThirdNodesPutKeepsIt(t *testing.T) {
	const k = "k"
	hold := &holdSend{typ: msgBackupType, held: make(chan struct{}), release: make(chan struct{})}
	w, r, q, v, release := restoredBesideAThirdPut(t, hold, func(_, q *node) *node { return q })
	live := []*node{w, r, q}
	qIgnored, rIgnored := q.m.Stats().OlderIgnored, r.m.Stats().OlderIgnored
	release()
	state := republishEnded(t, w, live, v)
	if n := q.m.Stats().OlderIgnored - qIgnored; n != 1 {
		t.Errorf("q ignored %d older publishes, want 1 (w's MSG_BACKUP):%s", n, state)
	}
	if n := r.m.Stats().OlderIgnored - rIgnored; n != 1 {
		t.Errorf("r ignored %d older publishes, want 1 (w's MSG_PROXY):%s", n, state)
	}
	rm := r.ch.LocalMember()
	testutil.Eventually(t, testutil.WaitLimit, func() error {
		if rv, rp, _ := r.m.Peek(k); !rp || rv != "newer" {
			return fmt.Errorf("r is not the primary of its value:%s", shortState(live, v))
		}
		if qv, qp, qh := q.m.Peek(k); !qh || qp || qv != "newer" {
			return fmt.Errorf("q is not r's backup of its value:%s", shortState(live, v))
		}
		if _, _, wh := w.m.Peek(k); wh {
			return fmt.Errorf("w holds a value:%s", shortState(live, v))
		}
		for _, n := range live {
			if p, ok := replmap.Primary(n.m, k); !ok || p.Key() != rm.Key() {
				return fmt.Errorf("%v does not name r the primary:%s", n.ch.LocalMember(), shortState(live, v))
			}
		}
		return nil
	})
	for _, n := range live {
		if g, ok, err := n.m.Get(ctx(t), k); err != nil || !ok || g != "newer" {
			t.Fatalf("Get on %v: %v, %v, w's value %v: want r's newer value:%s", n.ch.LocalMember(), ok, err, g == v, shortState(live, v))
		}
	}
}

// shortState describes k on nodes, v shown as "w's value" (keyState prints values).
func shortState(nodes []*node, v string) string {
	var b strings.Builder
	for i, n := range nodes {
		nv, primary, held := n.m.Peek("k")
		if nv == v {
			nv = "w's value"
		}
		p, _ := replmap.Primary(n.m, "k")
		name := "?"
		for j, o := range nodes {
			if o.ch.LocalMember().Key() == p.Key() {
				name = fmt.Sprint(j)
			}
		}
		fmt.Fprintf(&b, "\n  node %d: value %v (held %v, primary %v), names node %s the primary", i, nv, held, primary, name)
	}
	return b.String()
}
