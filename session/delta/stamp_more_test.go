package delta_test

// More of the last-writer-wins order of concurrent changes (stamp.go): many removals
// that fail to replicate, a winning change a joiner queued, a change sent again after a
// failure meeting a later one.

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/session/delta"
)

// TestFailedRemovalsAllRestored: one request removes nine attributes and its delta fails
// (not delivered). Every removal must go out with the session's next delta, although a
// session keeps only maxTombs (8) tombstones: the first removal's is gone.
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
			finish := replicateHeldToFail(a, aCh, s, false)
			if err := finish(); err == nil && mode == delta.ReplicateAcked {
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
// but reaches d after d captured the session, and the joiner j queues it. d applies it.
// j must not drop it as stale (older than the snapshot, not newer than the copy): the
// transfer's stamps order it, and w's beats l's.
func TestTransferKeepsAWinningConcurrentDelta(t *testing.T) {
	ctx := context.Background()
	nw := channeltest.NewNetwork()
	d, dg := startGated(t, nw, nil, delta.Config{JvmRoute: "d", Replication: delta.ReplicateAcked})
	_, id := startedSession(t, d, "k")
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
// 2 back. a's user, who sees b1, sets x=a2: a change made after b1 was seen. Before a's
// request ends, b's next request sends x=b1 again with the same stamp (2, b) that a's
// entry still carries (the request's delta stamps it later). a must keep a2 (its pending
// change wins everywhere), not take b1 again and drop its own change.
func TestResentDeltaDoesNotUndoALaterChange(t *testing.T) {
	ctx := context.Background()
	lo, loCh, hi, hiCh := twoCtl(t, delta.ReplicateAcked)
	for _, bIsLo := range []bool{true, false} {
		b, bCh, a := lo, loCh, hi
		if !bIsLo {
			b, bCh, a = hi, hiCh, lo
		}
		t.Run(fmt.Sprint("bIsLo=", bIsLo), func(t *testing.T) {
			sb, id := startedSession(t, b)
			_ = sb.Set("x", "b1")
			finish := replicateHeldToFail(b, bCh, sb, true)
			if err := finish(); err == nil {
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

// TestResentDeltaOfAHigherVersionDoesNotUndoALaterChange is
// TestResentDeltaDoesNotUndoALaterChange where b keeps its version (a's change of z,
// version 3, reached b before b's send failed), so b's next delta sends x=b1 again with
// the newer stamp (4, b). a's pending change of x, made after it saw b1, must still win.
func TestResentDeltaOfAHigherVersionDoesNotUndoALaterChange(t *testing.T) {
	ctx := context.Background()
	lo, loCh, hi, hiCh := twoCtl(t, delta.ReplicateAcked)
	for _, bIsLo := range []bool{true, false} {
		b, bCh, a := lo, loCh, hi
		if !bIsLo {
			b, bCh, a = hi, hiCh, lo
		}
		t.Run(fmt.Sprint("bIsLo=", bIsLo), func(t *testing.T) {
			sb, id := startedSession(t, b)
			_ = sb.Set("x", "b1")
			finish := replicateHeldToFail(b, bCh, sb, true)
			sa := a.Find(id)
			_ = sa.Set("z", "a") // a's request after b1 arrived: version 3
			if err := a.Replicate(ctx, sa); err != nil {
				t.Fatal(err)
			}
			if err := finish(); err == nil {
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
