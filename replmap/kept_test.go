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

// putOverPassedEntry sets up w's Put of k (a 64 KiB value) over an entry naming a its
// primary and x, a member that left, its backup (a's departure pass may republish it):
// four map nodes, x killed. With putBackup set, w's Put names the node it returns its
// backup. It returns the nodes w, a and q (the third live member) and the value.
func putOverPassedEntry(t *testing.T, putBackup func(a, q *node) *node) (w, a, q *node, v string) {
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
	if putBackup != nil {
		replmap.SetNextBackup(w.m, putBackup(a, q).ch.LocalMember())
	}
	v = strings.Repeat("v", 64<<10)
	if _, err := w.m.Put(ctx(t), k, v); err != nil {
		t.Fatal(err)
	}
	return w, a, q, v
}

// keptAfterPut sets up w's Put (putOverPassedEntry) and a MSG_PROXY from a naming a, and
// as the backup the node passBackup returns (q when nil), received after it (the
// pass's, late): w holds a proxy that keeps the Put's value. It returns the nodes w, a
// and q, the value and the backup w's Put named.
func keptAfterPut(t *testing.T, putBackup, passBackup func(a, q *node) *node) (w, a, q *node, v string, backup channel.Member) {
	t.Helper()
	w, a, q, v = putOverPassedEntry(t, putBackup)
	const k = "k"
	named := replmap.BackupNodes(w.m, k)
	if len(named) != 1 || putBackup != nil && named[0].Key() != putBackup(a, q).ch.LocalMember().Key() {
		t.Fatalf("w's Put named %v its backup nodes, want one", named)
	}
	pb := q
	if passBackup != nil {
		pb = passBackup(a, q)
	}
	if err := replmap.ReceiveProxy(w.m, a.ch.LocalMember(), k, pb.ch.LocalMember()); err != nil {
		t.Fatal(err)
	}
	if _, _, held := w.m.Peek(k); held || replmap.Held(w.m, k) != nil {
		t.Fatal("w holds a value after a's MSG_PROXY")
	}
	if s := w.m.Stats(); s.StoredBytes < int64(len(v)) || !replmap.StoredConsistent(w.m) {
		t.Fatalf("w's stats %+v with the Put's value kept: want it counted", s)
	}
	if n, b := replmap.KeptValues(w.m); n != 1 || b < int64(len(v)) {
		t.Fatalf("w keeps %d values of %d bytes, want 1 of the Put's", n, b)
	}
	return w, a, q, v, named[0]
}

// A Put's primary that a MSG_PROXY from the primary of the entry the Put replaced (whose
// backup node had left) made a proxy keeps the value, counted in its stored bytes: that
// member's request to send it again (its departure pass stepping aside) makes it the
// primary again and its backup gets the value, also when the request comes after
// AccessTimeout and a heartbeat (the value is not dropped for its age); another member's
// message of the key drops it, and the request then changes nothing.
func TestKeptValueOfAPutDemotedByAPassingPrimary(t *testing.T) {
	const k = "k"
	t.Run("restored on the request of the member that demoted it", func(t *testing.T) {
		w, a, q, v, backup := keptAfterPut(t, nil, nil)
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
		w, a, q, _, backup := keptAfterPut(t, nil, nil)
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
	t.Run("kept past AccessTimeout for a late request", func(t *testing.T) {
		w, a, _, v, backup := keptAfterPut(t, nil, nil)
		replmap.BackdateKept(w.m, k, replmap.DefaultAccessTimeout+time.Second)
		w.ch.Heartbeat()
		if s := w.m.Stats(); s.StoredBytes < 64<<10 || !replmap.StoredConsistent(w.m) {
			t.Fatalf("w's stats %+v after the heartbeat: the kept value dropped for its age", s)
		}
		if err := replmap.AskResend(w.m, a.ch.LocalMember(), k, backup); err != nil {
			t.Fatal(err)
		}
		if got, primary, held := w.m.Peek(k); !held || !primary || got != v {
			t.Fatal("w is not k's primary with the Put's value after a's late request")
		}
		if n, b := replmap.KeptValues(w.m); n != 0 || b != 0 {
			t.Errorf("w keeps %d values of %d bytes after the restore, want none", n, b)
		}
	})
}

// The mark a Put leaves on its entry (the replaced entry's primary may still run a
// departure pass of it) lasts AccessTimeout: a MSG_PROXY from that member after a
// heartbeat found the mark older than that drops the value, as any demotion does.
func TestPutMarkClearedByTheHeartbeat(t *testing.T) {
	w, a, q, _ := putOverPassedEntry(t, nil)
	const k = "k"
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
	w, _, _, _, _ := keptAfterPut(t, nil, nil)
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

// A kept value whose demoting member leaves the map before asking for it (its pass's
// request never comes; here its map stops): when that member's MSG_PROXY named a backup other than the Put's
// (a departure pass's, the Put's backup being the member that left here), the node is
// the primary again and publishes the value anew, the last member its backup; when it
// named the Put's backup (as a Get on that member taking the entry over does), the node
// drops its kept value, and the Put's backup, still holding it, answers a Get.
func TestKeptValueRestoredWhenThePassingPrimaryLeaves(t *testing.T) {
	const k = "k"
	t.Run("a pass's MSG_PROXY: published anew", func(t *testing.T) {
		w, a, q, v, _ := keptAfterPut(t, func(a, _ *node) *node { return a }, nil)
		if err := a.m.Stop(ctx(t)); err != nil {
			t.Fatal(err)
		}
		waitMapMembers(t, []*node{w, q}, 1)
		testutil.EventuallyTrue(t, testutil.WaitLimit, "w the primary of the Put's value, q its backup", func() bool {
			got, primary, held := w.m.Peek(k)
			bv, bprimary, bheld := q.m.Peek(k)
			return held && primary && got == v && bheld && !bprimary && bv == v
		})
		if n, b := replmap.KeptValues(w.m); n != 0 || b != 0 || !replmap.StoredConsistent(w.m) {
			t.Errorf("w keeps %d values of %d bytes after the restore, want none", n, b)
		}
	})
	t.Run("a MSG_PROXY naming the Put's backup: dropped, the backup holds it", func(t *testing.T) {
		w, a, q, v, _ := keptAfterPut(t, func(_, q *node) *node { return q }, nil)
		if err := a.m.Stop(ctx(t)); err != nil {
			t.Fatal(err)
		}
		waitMapMembers(t, []*node{w, q}, 1)
		testutil.EventuallyTrue(t, testutil.WaitLimit, "w's kept value dropped", func() bool {
			n, _ := replmap.KeptValues(w.m)
			return n == 0
		})
		if got, _, held := q.m.Peek(k); !held || got != v {
			t.Fatal("q, the Put's backup, does not hold the value")
		}
		got, ok, err := w.m.Get(ctx(t), k)
		if err != nil || !ok || got != v {
			t.Fatalf("w's Get: %v, %v, %v: want the Put's value", ok, err, got != nil)
		}
		if !replmap.StoredConsistent(w.m) {
			t.Error("w's stored bytes inconsistent")
		}
	})
}

// The values a map keeps are bounded (kept.go: maxKeptValues, maxKeptBytes): a
// MSG_PROXY that would keep more drops the value, as before values were kept, and a
// request to send it again then changes nothing.
func TestKeptValuesBounded(t *testing.T) {
	const k = "k"
	for _, c := range []struct {
		name   string
		values int
		bytes  int64
	}{{"count", 0, 1 << 30}, {"bytes", 10, 32 << 10}} {
		t.Run(c.name, func(t *testing.T) {
			defer replmap.SetKeptBounds(c.values, c.bytes)()
			w, a, q, _ := putOverPassedEntry(t, nil)
			named := replmap.BackupNodes(w.m, k)
			if err := replmap.ReceiveProxy(w.m, a.ch.LocalMember(), k, q.ch.LocalMember()); err != nil {
				t.Fatal(err)
			}
			if n, b := replmap.KeptValues(w.m); n != 0 || b != 0 {
				t.Fatalf("w keeps %d values of %d bytes past the bound", n, b)
			}
			if s := w.m.Stats(); s.StoredBytes > 4<<10 || !replmap.StoredConsistent(w.m) {
				t.Fatalf("w's stats %+v: want no 64 KiB value", s)
			}
			if err := replmap.AskResend(w.m, a.ch.LocalMember(), k, named...); err != nil {
				t.Fatal(err)
			}
			if _, _, held := w.m.Peek(k); held {
				t.Fatal("w took back a value it did not keep")
			}
		})
	}
}

// A Put's mark (the replaced entry's primary a may still run a departure pass of it) goes
// when that pass ends as the Put's node sees it, so that a later MSG_PROXY from a (a Get
// there taking the entry over) drops the value, as any demotion does, instead of
// leaving it kept: on a's request to send the value again, when a leaves the map (its
// map stops here), and, leaving no mark, when a's MSG_PROXY comes while the Put sends,
// before its store. Before, each left the mark until a heartbeat after AccessTimeout.
func TestPutMarkClearedWhenThePassEnds(t *testing.T) {
	const k = "k"
	t.Run("on the pass's request", func(t *testing.T) {
		w, a, q, _ := putOverPassedEntry(t, nil)
		if n := replmap.KeptMarks(w.m); n != 1 {
			t.Fatalf("w holds %d marks after its Put, want 1", n)
		}
		if err := replmap.AskResend(w.m, a.ch.LocalMember(), k, replmap.BackupNodes(w.m, k)...); err != nil {
			t.Fatal(err)
		}
		if n := replmap.KeptMarks(w.m); n != 0 {
			t.Fatalf("w holds %d marks after a's request, want 0", n)
		}
		if err := replmap.ReceiveProxy(w.m, a.ch.LocalMember(), k, q.ch.LocalMember()); err != nil {
			t.Fatal(err)
		}
		if s := w.m.Stats(); s.StoredBytes > 4<<10 || !replmap.StoredConsistent(w.m) {
			t.Fatalf("w's stats %+v after a's later MSG_PROXY: want no 64 KiB value", s)
		}
	})
	t.Run("when the pass's node leaves", func(t *testing.T) {
		w, a, _, v := putOverPassedEntry(t, func(_, q *node) *node { return q })
		if err := a.m.Stop(ctx(t)); err != nil {
			t.Fatal(err)
		}
		testutil.EventuallyTrue(t, testutil.WaitLimit, "w's mark cleared", func() bool { return replmap.KeptMarks(w.m) == 0 })
		if got, primary, held := w.m.Peek(k); !held || !primary || got != v {
			t.Fatal("w is no longer k's primary with the Put's value")
		}
	})
	t.Run("the pass's MSG_PROXY during the Put", func(t *testing.T) {
		nw := channeltest.NewNetwork()
		h := &holdSend{typ: msgBackupType, held: make(chan struct{}), release: make(chan struct{})}
		nodes := []*node{newChannel(t, nw, h), newChannel(t, nw), newChannel(t, nw), newChannel(t, nw)}
		for _, n := range nodes {
			waitChannelMembers(t, n, 3)
			newMap(t, n, replmap.Config{})
		}
		for _, n := range nodes {
			start(t, n)
		}
		waitMapMembers(t, nodes, 3)
		w, a, q, x := nodes[0], nodes[1], nodes[2], nodes[3]
		xm := x.ch.LocalMember()
		nw.Kill(x.tn)
		waitMapMembers(t, nodes[:3], 2)
		if err := replmap.ReceiveProxy(w.m, a.ch.LocalMember(), k, xm); err != nil {
			t.Fatal(err)
		}
		h.armed.Store(true)
		done := make(chan error, 1)
		go func() {
			_, err := w.m.Put(ctx(t), k, "v")
			done <- err
		}()
		<-h.held // the Put's MSG_BACKUP: it sends, its store to come
		if err := replmap.ReceiveProxy(w.m, a.ch.LocalMember(), k, q.ch.LocalMember()); err != nil {
			t.Fatal(err)
		}
		close(h.release)
		if err := <-done; err != nil {
			t.Fatalf("w's Put: %v", err)
		}
		if n := replmap.KeptMarks(w.m); n != 0 {
			t.Fatalf("w holds %d marks after a Put the pass's MSG_PROXY came during, want 0", n)
		}
		if _, primary, held := w.m.Peek(k); !held || !primary {
			t.Fatal("w is not k's primary after its Put")
		}
	})
}
