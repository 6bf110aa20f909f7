package replmap_test

import (
	"strings"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/replmap"
)

// keptAfterPut sets up w's Put of k (a 64 KiB value) over an entry naming a its primary
// and x, a member that left, its backup (a's departure pass may republish it), and a
// MSG_PROXY from a naming a (the pass's, late) received after it: w holds a proxy that
// keeps the Put's value. It returns the nodes w, a and q (the third live member), the
// value and the backup w's Put named.
func keptAfterPut(t *testing.T) (w, a, q *node, v string, backup channel.Member) {
	t.Helper()
	nw := channeltest.NewNetwork()
	nodes := cluster(t, nw, 4)
	w, a, q, x := nodes[0], nodes[1], nodes[2], nodes[3]
	xm := x.ch.LocalMember()
	nw.Kill(x.tn)
	waitMapMembers(t, nodes[:3], 2)
	const k = "k"
	if err := replmap.ReceiveProxy(w.m, a.ch.LocalMember(), k, xm); err != nil {
		t.Fatal(err)
	}
	v = strings.Repeat("v", 64<<10)
	if _, err := w.m.Put(ctx(t), k, v); err != nil {
		t.Fatal(err)
	}
	named := replmap.BackupNodes(w.m, k)
	if len(named) != 1 {
		t.Fatalf("w's Put named %v its backup nodes, want one", named)
	}
	if err := replmap.ReceiveProxy(w.m, a.ch.LocalMember(), k, q.ch.LocalMember()); err != nil {
		t.Fatal(err)
	}
	if _, _, held := w.m.Peek(k); held || replmap.Held(w.m, k) != nil {
		t.Fatal("w holds a value after a's MSG_PROXY")
	}
	if s := w.m.Stats(); s.StoredBytes < int64(len(v)) || !replmap.StoredConsistent(w.m) {
		t.Fatalf("w's stats %+v with the Put's value kept: want it counted", s)
	}
	return w, a, q, v, named[0]
}

// A Put's primary that a MSG_PROXY from the primary of the entry the Put replaced (whose
// backup node had left) made a proxy keeps the value, counted in its stored bytes: that
// member's request to send it again (its departure pass stepping aside) makes it the
// primary again and its backup gets the value; another member's message of the key, or
// a heartbeat once AccessTimeout passed, drops it, and the request then changes nothing.
func TestKeptValueOfAPutDemotedByAPassingPrimary(t *testing.T) {
	const k = "k"
	t.Run("restored on the request of the member that demoted it", func(t *testing.T) {
		w, a, q, v, backup := keptAfterPut(t)
		if err := replmap.AskResend(w.m, q.ch.LocalMember(), k, backup); err != nil {
			t.Fatal(err)
		}
		if _, _, held := w.m.Peek(k); held {
			t.Fatal("w took the entry back on the request of a member that did not demote it")
		}
		if err := replmap.AskResend(w.m, a.ch.LocalMember(), k, backup); err != nil {
			t.Fatal(err)
		}
		if got, primary, held := w.m.Peek(k); !held || !primary || got != v {
			t.Fatal("w is not k's primary with the Put's value after a's request")
		}
		if named := replmap.BackupNodes(w.m, k); len(named) != 1 || named[0].Key() != backup.Key() {
			t.Fatalf("w names %v k's backup nodes, want %v", named, backup)
		}
		b := a
		if backup.Key() == q.ch.LocalMember().Key() {
			b = q
		}
		testutil.EventuallyTrue(t, testutil.WaitLimit, "w's backup holding the value", func() bool {
			got, primary, held := b.m.Peek(k)
			return held && !primary && got == v
		})
		if !replmap.StoredConsistent(w.m) {
			t.Error("w's stored bytes inconsistent")
		}
	})
	t.Run("dropped on another member's message", func(t *testing.T) {
		w, a, q, _, backup := keptAfterPut(t)
		if err := replmap.ReceiveProxy(w.m, q.ch.LocalMember(), k, a.ch.LocalMember()); err != nil {
			t.Fatal(err)
		}
		if s := w.m.Stats(); s.StoredBytes > 4<<10 || !replmap.StoredConsistent(w.m) {
			t.Fatalf("w's stats %+v after q's MSG_PROXY: want no 64 KiB value", s)
		}
		if err := replmap.AskResend(w.m, a.ch.LocalMember(), k, backup); err != nil {
			t.Fatal(err)
		}
		if _, _, held := w.m.Peek(k); held {
			t.Fatal("w took the entry back after q's MSG_PROXY")
		}
	})
	t.Run("dropped by the heartbeat after AccessTimeout", func(t *testing.T) {
		w, a, _, _, backup := keptAfterPut(t)
		w.ch.Heartbeat()
		if s := w.m.Stats(); s.StoredBytes < 64<<10 {
			t.Fatalf("w's stats %+v: the value dropped before AccessTimeout", s)
		}
		replmap.BackdateKept(w.m, k, replmap.DefaultAccessTimeout+time.Second)
		w.ch.Heartbeat()
		if s := w.m.Stats(); s.StoredBytes > 4<<10 || !replmap.StoredConsistent(w.m) {
			t.Fatalf("w's stats %+v after the heartbeat: want no 64 KiB value", s)
		}
		if err := replmap.AskResend(w.m, a.ch.LocalMember(), k, backup); err != nil {
			t.Fatal(err)
		}
		if _, _, held := w.m.Peek(k); held {
			t.Fatal("w took the entry back after the heartbeat dropped its value")
		}
	})
}

// The mark a Put leaves on its entry (the replaced entry's primary may still run a
// departure pass of it) lasts AccessTimeout: a MSG_PROXY from that member after a
// heartbeat found the mark older than that drops the value, as any demotion does.
func TestPutMarkClearedByTheHeartbeat(t *testing.T) {
	nw := channeltest.NewNetwork()
	nodes := cluster(t, nw, 4)
	w, a, q, x := nodes[0], nodes[1], nodes[2], nodes[3]
	xm := x.ch.LocalMember()
	nw.Kill(x.tn)
	waitMapMembers(t, nodes[:3], 2)
	const k = "k"
	if err := replmap.ReceiveProxy(w.m, a.ch.LocalMember(), k, xm); err != nil {
		t.Fatal(err)
	}
	if _, err := w.m.Put(ctx(t), k, strings.Repeat("v", 64<<10)); err != nil {
		t.Fatal(err)
	}
	w.ch.Heartbeat()
	replmap.BackdateKept(w.m, k, replmap.DefaultAccessTimeout+time.Second)
	w.ch.Heartbeat()
	if err := replmap.ReceiveProxy(w.m, a.ch.LocalMember(), k, q.ch.LocalMember()); err != nil {
		t.Fatal(err)
	}
	if s := w.m.Stats(); s.StoredBytes > 4<<10 || !replmap.StoredConsistent(w.m) {
		t.Fatalf("w's stats %+v after a's MSG_PROXY: want no 64 KiB value", s)
	}
}

// A map's Stop drops the values its entries kept and their times with the entries
// (kept.go): none is left for a later Start.
func TestStopDropsKeptValues(t *testing.T) {
	w, _, _, _, _ := keptAfterPut(t)
	if n := replmap.KeptMarks(w.m); n != 1 {
		t.Fatalf("w holds %d kept values, want 1", n)
	}
	if err := w.m.Stop(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if n := replmap.KeptMarks(w.m); n != 0 {
		t.Errorf("w holds %d kept values after Stop, want 0", n)
	}
	if s := w.m.Stats(); s.Entries != 0 || s.StoredBytes != 0 {
		t.Errorf("w's stats after Stop: %+v", s)
	}
}
