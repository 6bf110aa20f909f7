package replmap_test

import (
	"fmt"
	"testing"

	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/replmap"
)

// A departure pass of a's entry (a read it before w's Put of the key reached a) whose
// MSG_BACKUP of a's older value reaches b, the backup of w's Put, after the Put's own,
// and whose MSG_PROXY reaches w after the Put returned: the pass's messages are
// delivered here as a Go node sends them, with the stamp and clock of a's value, read
// from a's entry before w's Put (w heard of that clock: its Put's is larger). b and w
// do not apply them (stamp.go, olderLocked; Stats.OlderIgnored): b stays the backup of
// w's value, w its primary keeping nothing, and once w died b takes the entry over and
// a Get on a returns w's acknowledged value. Before the clocks, b took a's older value
// as a's backup (the stamps name writes, they do not order them), w became a proxy,
// and the Put's value was lost: what a message with clock 0 (unknown: a Go node of
// the previous version, a Java node) still does, shown by the second case.
func TestDeparturePassBackupReachingThePutsBackupLateIgnored(t *testing.T) {
	const k = "k"
	for _, clocked := range []bool{true, false} {
		name := "clocked"
		if !clocked {
			name = "unknown clock applied as before"
		}
		t.Run(name, func(t *testing.T) {
			nw := channeltest.NewNetwork()
			nodes := clusterConfig(t, nw, 3, replmap.Config{SendOptions: syncAck})
			w, a, b := nodes[0], nodes[1], nodes[2]
			am, bm, wm := a.ch.LocalMember(), b.ch.LocalMember(), w.ch.LocalMember()
			replmap.SetNextBackup(a.m, bm)
			if _, err := a.m.Put(ctx(t), k, "older"); err != nil {
				t.Fatal(err)
			}
			stamp, clock := replmap.Stamp(a.m, k), replmap.Clock(a.m, k)
			if stamp == 0 || clock == 0 {
				t.Fatalf("a's Put: stamp %#x, clock %d, want both known", stamp, clock)
			}
			replmap.SetNextBackup(w.m, bm)
			if _, err := w.m.Put(ctx(t), k, "put"); err != nil {
				t.Fatal(err)
			}
			if c := replmap.Clock(w.m, k); c <= clock {
				t.Fatalf("w's Put's clock %d, want more than a's %d, which w heard of", c, clock)
			}
			if !clocked {
				clock = 0
			}
			// The pass's messages, late: its MSG_BACKUP to b, its MSG_PROXY to w.
			if err := replmap.ReceiveBackupClocked(b.m, am, k, "older", stamp, clock); err != nil {
				t.Fatal(err)
			}
			if err := replmap.ReceiveProxyClocked(w.m, am, k, bm, stamp, clock); err != nil {
				t.Fatal(err)
			}
			bv, bp, bh := b.m.Peek(k)
			bPrimary, _ := replmap.Primary(b.m, k)
			if !clocked {
				if !bh || bp || bv != "older" || bPrimary.Key() != am.Key() {
					t.Fatalf("b holds %v (held %v, primary %v), want (as before the clocks) a's older value as a's backup", bv, bh, bp)
				}
				if b.m.Stats().OlderIgnored != 0 || w.m.Stats().OlderIgnored != 0 {
					t.Fatal("a message of unknown clock counted as older")
				}
				return
			}
			if !bh || bp || bv != "put" || bPrimary.Key() != wm.Key() {
				t.Fatalf("b holds %v (held %v, primary %v), want w's backup of the Put's value", bv, bh, bp)
			}
			if wv, wp, _ := w.m.Peek(k); !wp || wv != "put" {
				t.Fatalf("w holds %v (primary %v), want the primary of its Put's value", wv, wp)
			}
			if n, _ := replmap.KeptValues(w.m); n != 0 {
				t.Fatalf("w keeps %d values, want none: it stayed the primary", n)
			}
			for _, n := range []*node{b, w} {
				if got := n.m.Stats().OlderIgnored; got != 1 {
					t.Fatalf("%v: OlderIgnored %d, want 1", n.ch.LocalMember(), got)
				}
			}
			// w dies: b takes the entry over with the Put's value, which a Get on a returns.
			nw.Kill(w.tn)
			waitMapMembers(t, []*node{a, b}, 1)
			testutil.Eventually(t, testutil.WaitLimit, func() error {
				if _, bp, _ := b.m.Peek(k); !bp {
					return fmt.Errorf("b is not the primary yet")
				}
				return nil
			})
			if g, ok, err := a.m.Get(ctx(t), k); err != nil || !ok || g != "put" {
				t.Fatalf("Get on a after w died: %v, %v, %v, want the Put's value", g, ok, err)
			}
		})
	}
}

// A publish older than the entry's value is applied when it comes from a backup node
// the entry names: that node's takeover (a Get there) publishes the value it holds,
// which may lag a Replicate of the primary's whose send failed or is under way, and it
// takes the entry over as before (stamp.go). The same older publish from a member the
// entry does not name is not applied.
func TestOlderPublishOfTheEntrysBackupNodeApplied(t *testing.T) {
	const k = "k"
	nodes := clusterConfig(t, channeltest.NewNetwork(), 3, replmap.Config{SendOptions: syncAck})
	a, b, x := nodes[0], nodes[1], nodes[2]
	bm, xm := b.ch.LocalMember(), x.ch.LocalMember()
	if _, err := a.m.Put(ctx(t), "other", "v"); err != nil {
		t.Fatal(err)
	}
	older := replmap.Clock(a.m, "other")
	replmap.SetNextBackup(a.m, bm)
	if _, err := a.m.Put(ctx(t), k, "v"); err != nil {
		t.Fatal(err)
	}
	if c := replmap.Clock(a.m, k); c <= older {
		t.Fatalf("a's clock of k %d, want more than %d, its Put of another key's", c, older)
	}
	if err := replmap.ReceiveBackupClocked(a.m, xm, k, "older", 1, older); err != nil {
		t.Fatal(err)
	}
	if v, p, _ := a.m.Peek(k); !p || v != "v" || a.m.Stats().OlderIgnored != 1 {
		t.Fatalf("after x's older publish a holds %v (primary %v), OlderIgnored %d: want the primary of v, 1", v, p, a.m.Stats().OlderIgnored)
	}
	if err := replmap.ReceiveBackupClocked(a.m, bm, k, "older", 1, older); err != nil {
		t.Fatal(err)
	}
	pa, _ := replmap.Primary(a.m, k)
	if v, p, held := a.m.Peek(k); p || !held || v != "older" || pa.Key() != bm.Key() || a.m.Stats().OlderIgnored != 1 {
		t.Fatalf("after b's older publish a holds %v (held %v, primary %v), OlderIgnored %d: want b's backup of it, 1",
			v, held, p, a.m.Stats().OlderIgnored)
	}
}
