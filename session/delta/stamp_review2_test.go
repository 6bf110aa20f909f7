package delta_test

// A second review of the last-writer-wins order of concurrent changes (stamp.go). Each
// test fails on 39b2405.

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/session/delta"
)

// TestFailedRemovalsAllRestored: one request removes nine attributes and its delta
// fails (not delivered). Every removal must go out with the session's next delta. The
// removals' tombstones are the stamps restore compares (unchanged), and a session keeps
// only maxTombs (8) of them: the first removal's tombstone is forgotten, restore takes
// that as "another node's change replaced it" and drops the removal; the other node
// keeps the attribute for good.
func TestFailedRemovalsAllRestored(t *testing.T) {
	ctx := context.Background()
	for _, mode := range []delta.ReplicationMode{delta.ReplicateAcked, delta.ReplicateAsync} {
		t.Run(fmt.Sprint(mode), func(t *testing.T) {
			a, aCh, b, _ := twoCtl(t, mode)
			s, err := a.Create(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for i := range 9 {
				_ = s.Set(fmt.Sprint("a", i), i)
			}
			if err := a.Replicate(ctx, s); err != nil {
				t.Fatal(err)
			}
			delta.DrainAsync(a)
			id := s.ID()
			testutil.EventuallyTrue(t, 10*time.Second, "b has the nine attributes", func() bool {
				return attrs(b, id) == attrs(a, id)
			})
			for i := range 9 {
				_ = s.Remove(fmt.Sprint("a", i))
			}
			entered, release := aCh.arm(false)
			failed := make(chan error, 1)
			go func() { failed <- a.Replicate(ctx, s) }()
			<-entered
			release()
			if err := <-failed; err == nil && mode == delta.ReplicateAcked {
				t.Fatal("a's send did not fail")
			}
			delta.DrainAsync(a)
			// a's next request changes something else.
			_ = s.Set("y", 1)
			if err := a.Replicate(ctx, s); err != nil {
				t.Fatal(err)
			}
			delta.DrainAsync(a)
			testutil.EventuallyTrue(t, 2*time.Second, "b has y", func() bool {
				v, _ := b.Find(id).Get("y")
				return v == 1
			})
			if l, r := attrs(a, id), attrs(b, id); l != r {
				t.Errorf("a %q, b %q; want both y=1 (the nine removals went out again)", l, r)
			}
		})
	}
}

// TestTransferKeepsAWinningConcurrentDelta: two concurrent deltas of version 2 (raw Go
// peers w and l, w's origin higher: w wins). l's reached the donor d before its snapshot,
// which holds l's value; w's was sent before the snapshot began (its timestamp is older)
// but reaches d after d captured the session (the chunk is on its way to the joiner j),
// and j, transferring, queues it. d applies it (w wins). j's stale rule drops it: older
// than the snapshot and not newer than the transferred copy (version 2, not above 2). The
// transfer's stamps would have ordered it (w's stamp beats l's); the version rule drops a
// concurrent delta of the copy's version that the copy does not hold. j serves l's value,
// every other node w's.
func TestTransferKeepsAWinningConcurrentDelta(t *testing.T) {
	ctx := context.Background()
	nw := channeltest.NewNetwork()
	d, dg := startGated(t, nw, nil, delta.Config{JvmRoute: "d", Replication: delta.ReplicateAcked})
	s, err := d.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_ = s.Set("k", "start")
	if err := d.Replicate(ctx, s); err != nil {
		t.Fatal(err)
	}
	id := s.ID()
	w, l := newRaw(t, nw, nil), newRaw(t, nw, nil)
	if delta.OriginOf(w.ch.LocalMember()) < delta.OriginOf(l.ch.LocalMember()) {
		w, l = l, w
	}
	dm := dg.LocalMember()
	if err := w.ch.WaitForMembers(ctx, 2); err != nil {
		t.Fatal(err)
	}
	sent := time.Now().UnixMilli() - 100 // both deltas were made before the snapshot
	l.send(t, dm, repairSet(repairMsg(delta.EventDelta, id, sent), 2, "l"))
	if got := valueK(d, id); got != "l" {
		t.Fatalf("d has k=%v, want l", got)
	}
	// d's next send is the joiner's chunk: held at the gate once d captured the session.
	entered, release := dg.arm(nil)
	j := startNode(t, nw, delta.Config{JvmRoute: "j", Replication: delta.ReplicateAcked})
	<-entered
	if p := dg.payloads(); len(p) == 0 {
		t.Fatal("nothing held")
	} else if m, err := (delta.BinaryCodec{}).DecodeMessage(p[len(p)-1]); err != nil || m.Event != delta.EventAllSessionData {
		t.Fatalf("held %v, %v; want the joiner's chunk", m, err)
	}
	jm := j.ch.LocalMember()
	if err := w.ch.WaitForMembers(ctx, 3); err != nil {
		t.Fatal(err)
	}
	wd := repairSet(repairMsg(delta.EventDelta, id, sent), 2, "w")
	w.send(t, dm, wd)
	w.send(t, jm, wd)
	if got := valueK(d, id); got != "w" {
		t.Fatalf("d has k=%v, want w (the higher origin)", got)
	}
	release()
	if err := j.m.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	if dv, jv := valueK(d, id), valueK(j.m, id); dv != jv {
		st := j.m.Stats()
		t.Errorf("after the transfer the donor has k=%v, the joiner k=%v (queued %d, dropped as stale %d)",
			dv, jv, st.QueuedDuringTransfer, st.DroppedStale)
	}
}

// TestResentDeltaDoesNotUndoALaterChange: b's delta (x=b1, version 2) reaches a, but its
// send fails (a lost acknowledgement); b keeps x=b1 for its next delta and gives version
// 2 back. a's user, who sees b1, sets x=a2: a change made after b1 was seen, which the
// package documentation says always wins over it. Before a's request ends, b's next
// request sends its delta: version 2 again, x=b1 again, the same stamp (2, b) as the
// value a2 replaced, which a's entry still carries (Set keeps the old stamp until the
// request's delta stamps it). Equal stamps apply ("the later one"), so b1 replaces a2 on
// a and drops a's pending change: both nodes end with b1, a's later change lost.
func TestResentDeltaDoesNotUndoALaterChange(t *testing.T) {
	ctx := context.Background()
	lo, loCh, hi, hiCh := twoCtl(t, delta.ReplicateAcked)
	for _, bIsLo := range []bool{true, false} {
		b, bCh, a := lo, loCh, hi
		if !bIsLo {
			b, bCh, a = hi, hiCh, lo
		}
		t.Run(fmt.Sprint("bIsLo=", bIsLo), func(t *testing.T) {
			sb, err := b.Create(ctx)
			if err != nil {
				t.Fatal(err)
			}
			_ = sb.Set("x", "start")
			if err := b.Replicate(ctx, sb); err != nil {
				t.Fatal(err)
			}
			id := sb.ID()
			_ = sb.Set("x", "b1")
			entered, release := bCh.arm(true)
			failed := make(chan error, 1)
			go func() { failed <- b.Replicate(ctx, sb) }()
			<-entered
			release()
			if err := <-failed; err == nil {
				t.Fatal("b's send did not fail")
			}
			sa := a.Find(id)
			if v, _ := sa.Get("x"); v != "b1" {
				t.Fatalf("a has x=%v, want b1", v)
			}
			_ = sa.Set("x", "a2 after b1") // a's request, not ended yet
			_ = sb.Set("y", 1)             // b's next request
			if err := b.Replicate(ctx, sb); err != nil {
				t.Fatal(err)
			}
			if err := a.Replicate(ctx, sa); err != nil { // a's request ends
				t.Fatal(err)
			}
			if l, r := attrs(a, id), attrs(b, id); l != r || l != "x=a2 after b1 y=1 " {
				t.Errorf("a %q, b %q; want both x=a2 after b1 y=1 (a's change was made after it saw b1)", l, r)
			}
		})
	}
}

// TestConcurrentNotesConverge: the package documentation and the commit say concurrent
// changes on two Go nodes end the same on every node, but only attributes carry stamps:
// notes (Tomcat keeps authentication state in them), the principal, the auth type and the
// max inactive interval still apply in arrival order, so of two concurrent changes each
// node keeps the other's (the behaviour TestConcurrentChangesConverge fails on for
// attributes). Either they get stamps too, or the documentation says they do not.
func TestConcurrentNotesConverge(t *testing.T) {
	ms, gs := gatedNodes(t, 2, delta.ReplicateAcked)
	ctx := context.Background()
	s, err := ms[0].Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_ = s.SetNote("n", "start")
	if err := ms[0].Replicate(ctx, s); err != nil {
		t.Fatal(err)
	}
	id := s.ID()
	var changes []func(*delta.Session) error
	for i := range ms {
		changes = append(changes, func(s *delta.Session) error {
			if err := s.SetNote("n", fmt.Sprint("from ", i)); err != nil {
				return err
			}
			return s.SetMaxInactiveInterval(time.Duration(100+i) * time.Second)
		})
	}
	concurrently(t, id, ms, gs, changes)
	n0, _ := ms[0].Find(id).Note("n")
	n1, _ := ms[1].Find(id).Note("n")
	if n0 != n1 {
		t.Errorf("note n: node 0 %q, node 1 %q", n0, n1)
	}
	if i0, i1 := ms[0].Find(id).MaxInactiveInterval(), ms[1].Find(id).MaxInactiveInterval(); i0 != i1 {
		t.Errorf("max inactive interval: node 0 %v, node 1 %v", i0, i1)
	}
}

// TestResentDeltaOfAHigherVersionDoesNotUndoALaterChange is
// TestResentDeltaDoesNotUndoALaterChange where b keeps its version (a's change of z,
// version 3, reached b before b's send failed), so b's next delta sends x=b1 again with
// the newer stamp (4, b): the fix cannot be only "equal stamps do not replace a pending
// change". a's pending change of x, made after it saw b1, would be stamped (5, a) and win
// everywhere, but b's resend drops it first.
func TestResentDeltaOfAHigherVersionDoesNotUndoALaterChange(t *testing.T) {
	ctx := context.Background()
	lo, loCh, hi, hiCh := twoCtl(t, delta.ReplicateAcked)
	for _, bIsLo := range []bool{true, false} {
		b, bCh, a := lo, loCh, hi
		if !bIsLo {
			b, bCh, a = hi, hiCh, lo
		}
		t.Run(fmt.Sprint("bIsLo=", bIsLo), func(t *testing.T) {
			sb, err := b.Create(ctx)
			if err != nil {
				t.Fatal(err)
			}
			_ = sb.Set("x", "start")
			if err := b.Replicate(ctx, sb); err != nil {
				t.Fatal(err)
			}
			id := sb.ID()
			_ = sb.Set("x", "b1")
			entered, release := bCh.arm(true)
			failed := make(chan error, 1)
			go func() { failed <- b.Replicate(ctx, sb) }()
			<-entered
			sa := a.Find(id)
			_ = sa.Set("z", "a") // a's request after b1 arrived: version 3
			if err := a.Replicate(ctx, sa); err != nil {
				t.Fatal(err)
			}
			release()
			if err := <-failed; err == nil {
				t.Fatal("b's send did not fail")
			}
			if v, _ := sa.Get("x"); v != "b1" {
				t.Fatalf("a has x=%v, want b1", v)
			}
			_ = sa.Set("x", "a2 after b1") // a's next request, not ended yet
			_ = sb.Set("y", 1)             // b's next request
			if err := b.Replicate(ctx, sb); err != nil {
				t.Fatal(err)
			}
			if err := a.Replicate(ctx, sa); err != nil {
				t.Fatal(err)
			}
			if l, r := attrs(a, id), attrs(b, id); l != r || l != "x=a2 after b1 y=1 z=a " {
				t.Errorf("a %q, b %q; want both x=a2 after b1 y=1 z=a (a's change was made after it saw b1)", l, r)
			}
		})
	}
}
