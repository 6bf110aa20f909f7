package delta_test

// The stamps (stamp.go) with removal records, repairs, and the changes a node makes that
// are not marked as made here.

import (
	"context"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/session/delta"
)

// TestTransferredPendingChangeAgrees: a request on hi sets x=h1 and has not ended (its
// delta is not taken: x is marked as changed here). A joiner lo takes the session from hi
// meanwhile: the snapshot holds x=h1. lo's user sees h1 and sets x. hi skips lo's change
// (x changed here and not sent yet), and hi's delta, taken after, wins: lo's change, made
// after it saw h1, is lost (documented), but both nodes end with the same value.
func TestTransferredPendingChangeAgrees(t *testing.T) {
	ctx := context.Background()
	nw := channeltest.NewNetwork()
	loID, hiID := loHiIDs()
	hi, hiCh := startCtlID(t, nw, hiID, delta.Config{JvmRoute: "hi", Replication: delta.ReplicateAcked})
	newRaw(t, nw, nil)
	if err := hiCh.WaitForMembers(ctx, 1); err != nil {
		t.Fatal(err)
	}
	s, id := startedSession(t, hi)
	_ = s.Set("x", "h1") // hi's request, not ended yet

	lo, _ := startCtlID(t, nw, loID, delta.Config{JvmRoute: "lo", Replication: delta.ReplicateAcked})
	sl := lo.Find(id)
	if v, _ := sl.Get("x"); v != "h1" {
		t.Fatalf("lo has x=%v, want h1 (hi's copy)", v)
	}
	_ = sl.Set("x", "lo after h1")
	if err := lo.Replicate(ctx, sl); err != nil {
		t.Fatal(err)
	}
	if err := hi.Replicate(ctx, s); err != nil { // hi's request ends
		t.Fatal(err)
	}
	if l, h := attrs(lo, id), attrs(hi, id); l != h || l != "x=h1 " {
		t.Errorf("lo %q, hi %q; want both x=h1 (hi's delta, taken last, wins)", l, h)
	}
}

// TestRemovalRecordCoversAStampAboveTheVersion: hi (ClusterSize 3, raw Go peers m and e)
// holds S at version 1. hi's delta setting x=h1 (version 2) reaches m and e, but its send
// fails (a lost acknowledgement): hi gives version 2 back and holds x=h1 stamped (2, hi)
// at version 1. m is cut off; then S stops being named by its id on hi: renamed by
// ChangeSessionID (a login), or invalidated by e. hi's record of the old id must cover
// version 2: hi's refresh then finds S under the old id at version 2 in m's copy (m missed
// the rename or the removal), and the old id must not name a live session on hi again.
func TestRemovalRecordCoversAStampAboveTheVersion(t *testing.T) {
	for _, how := range []string{"renamed here", "invalidated elsewhere"} {
		t.Run(how, func(t *testing.T) {
			ctx := context.Background()
			nw := channeltest.NewNetwork()
			var id string
			var hiOrigin uint32
			now := time.Now().UnixMilli()
			mState := func(refresh bool) []delta.SessionState {
				if !refresh {
					return nil
				}
				// m's copy: S after hi's delta of version 2, delivered.
				st := delta.SessionState{ID: id, CreationTime: now, LastAccessedTime: now, MaxInactive: 1800, Version: 2,
					Attributes: []delta.NamedValue{{Name: "x", Value: gobBytes("h1")}}}
				delta.SetStamp(&st, 0, 2, hiOrigin)
				return []delta.SessionState{st}
			}
			m := answerer(t, nw, mState)
			e := answerer(t, nw, func(bool) []delta.SessionState { return nil })
			hiTn, hiCh := startCtlNode(t, nw, delta.Config{JvmRoute: "hi", Replication: delta.ReplicateAcked, ClusterSize: 3})
			hi := hiCh.m
			if err := hiCh.WaitForMembers(ctx, 2); err != nil {
				t.Fatal(err)
			}
			testutil.EventuallyTrue(t, 10*time.Second, "hi serving", func() bool { return hi.Serving() == nil })
			hiOrigin = delta.OriginOf(hiCh.LocalMember())
			s, sid := startedSession(t, hi)
			id = sid
			_ = s.Set("x", "h1")
			if err := replicateHeldToFail(hi, hiCh.ctlChannel, s, true)(); err == nil {
				t.Fatal("hi's send did not fail")
			}

			nw.Isolate(m.tn, hiTn, e.tn)
			testutil.EventuallyTrue(t, 10*time.Second, "hi serving without m", func() bool {
				return len(hiCh.Members()) == 1 && hi.Serving() == nil
			})
			switch how {
			case "renamed here":
				testutil.EventuallyTrue(t, 10*time.Second, "hi's rename", func() bool {
					_, err := hi.ChangeSessionID(ctx, s, "")
					return err == nil
				})
			default:
				e.send(t, hiCh.LocalMember(), repairMsg(delta.EventExpired, id, time.Now().UnixMilli()))
			}
			if hi.Find(id) != nil {
				t.Fatalf("hi still holds %s", id)
			}

			refreshes := hi.Stats().QuorumRefreshes
			nw.Partition(hiTn, e.tn)
			testutil.EventuallyTrue(t, 10*time.Second, "hi without the quorum", func() bool { return hi.Serving() != nil })
			nw.Heal(hiTn, m.tn)
			testutil.EventuallyTrue(t, 10*time.Second, "hi's refresh", func() bool {
				return hi.Stats().QuorumRefreshes > refreshes && hi.Serving() == nil
			})
			if s := hi.Find(id); s != nil {
				v, _ := s.Get("x")
				t.Errorf("after the refresh hi holds %s again (x=%v, from m's copy of version 2): its record of %s "+
					"was at version 1, below the stamp (2, hi) its copy held", id, v, how)
			}
		})
	}
}

// ctlNode is a ctlChannel with the manager started on it.
type ctlNode struct {
	*ctlChannel
	m *delta.Manager
}

// startCtlNode is startCtl that also returns the channel's node on nw (to partition it).
func startCtlNode(t *testing.T, nw *channeltest.Network, cfg delta.Config) (*channeltest.Node, *ctlNode) {
	t.Helper()
	tn, ch := newChannel(t, nw)
	c := &ctlChannel{Channel: ch}
	return tn, &ctlNode{ctlChannel: c, m: readyManager(t, c, nil, cfg)}
}

// TestJumpedVersionUnderAnotherRouteNeedsNoRepair: p's delta setting x (version 2)
// failed, so p holds x=p stamped (2, p) at version 1. Nodes a and j join and both take
// S1.a from p: version 1, x=p (2, p). j renames the session to S1.j while a is cut off
// from it, so a keeps S1.a, and each node applies the other's messages to its copy under
// the other route (replicaOf). j's next delta takes version 3, above p's stamp: a's copy,
// which holds that stamp too, must apply it at once, not take it for a delta after
// changes it missed (more than one above its version) and ask j for every session.
func TestJumpedVersionUnderAnotherRouteNeedsNoRepair(t *testing.T) {
	ctx := context.Background()
	nw := channeltest.NewNetwork()
	now := time.Now().UnixMilli()
	var p *raw
	p = answerer(t, nw, func(bool) []delta.SessionState {
		st := delta.SessionState{ID: "S1.a", CreationTime: now, LastAccessedTime: now, MaxInactive: 1800, Version: 1,
			Attributes: []delta.NamedValue{{Name: "x", Value: gobBytes("p")}}}
		delta.SetStamp(&st, 0, 2, delta.OriginOf(p.ch.LocalMember())) // p's failed delta, put back
		return []delta.SessionState{st}
	})
	a := startReady(t, nw, delta.Config{JvmRoute: "a", Replication: delta.ReplicateAcked})
	j := startReady(t, nw, delta.Config{JvmRoute: "j", Replication: delta.ReplicateAcked})
	if err := a.ch.WaitForMembers(ctx, 2); err != nil {
		t.Fatal(err)
	}
	for _, n := range []*node{a, j} {
		if got := attrs(n.m, "S1.a"); got != "x=p " {
			t.Fatalf("a joiner has %q, want x=p (p's copy)", got)
		}
	}
	nw.Partition(a.tn, j.tn)
	testutil.EventuallyTrue(t, 10*time.Second, "a and j apart", func() bool {
		return len(a.ch.Members()) == 1 && len(j.ch.Members()) == 1
	})
	sj := j.m.Find("S1.a")
	if _, err := j.m.ChangeSessionID(ctx, sj, "S1.j"); err != nil {
		t.Fatal(err)
	}
	nw.Heal(a.tn, j.tn)
	if err := j.ch.WaitForMembers(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if err := a.ch.WaitForMembers(ctx, 2); err != nil {
		t.Fatal(err)
	}
	_ = sj.Set("y", "j")
	if err := j.m.Replicate(ctx, sj); err != nil {
		t.Fatal(err)
	}
	// a may have taken the rename already: its late catch-up asks j once the two list
	// each other again (CatchUpWindow), and j's answer carries the session under S1.j.
	if got, renamed := attrs(a.m, "S1.a"), attrs(a.m, "S1.j"); got != "x=p y=j " && renamed != "x=p y=j " {
		t.Errorf("a's copy has %q under its route and %q under j's right after j's delta, want x=p y=j "+
			"(applied at once, as replicaOf does)", got, renamed)
	}
	testutil.EventuallyTrue(t, 10*time.Second, "j's change on a", func() bool {
		return attrs(a.m, "S1.a") == "x=p y=j " || attrs(a.m, "S1.j") == "x=p y=j "
	})
	if n := a.m.Stats().TransferRepairs; n != 0 {
		t.Errorf("a ran %d repairs (asked j for every session) for j's delta of version 3 to its copy of version 1, "+
			"which missed only the rename", n)
	}
}

// TestRepairOverAPendingChange: a created X.a; j holds it too. j renames it to X.j while
// a is cut off (the rename and j's next delta, version 2, reach only p), so a keeps X.a.
// a's user sets x (not replicated yet). The link is back and j's next delta (version 3)
// reaches a, whose copy under the other route missed version 2: a repair loads j's copy
// over a's. a's pending change must stay what a holds, and go out: a's request then ends,
// and both nodes must hold the same x.
func TestRepairOverAPendingChange(t *testing.T) {
	ctx := context.Background()
	nw := channeltest.NewNetwork()
	// a asks j nothing once j is back (catchup_back.go): the repair of j's next delta is what is tested
	a := startReady(t, nw, delta.Config{JvmRoute: "a", Replication: delta.ReplicateAcked,
		CatchUpWindow: -1})
	j := startReady(t, nw, delta.Config{JvmRoute: "j", Replication: delta.ReplicateAcked})
	newRaw(t, nw, nil) // p: j's member while a is cut off from it
	if err := a.ch.WaitForMembers(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if err := j.ch.WaitForMembers(ctx, 2); err != nil {
		t.Fatal(err)
	}
	sa, old := startedSession(t, a.m)
	newID := old[:len(old)-1] + "j"
	nw.Partition(a.tn, j.tn)
	testutil.EventuallyTrue(t, 10*time.Second, "a and j apart", func() bool {
		return len(a.ch.Members()) == 1 && len(j.ch.Members()) == 1
	})
	sj := j.m.Find(old)
	if _, err := j.m.ChangeSessionID(ctx, sj, newID); err != nil {
		t.Fatal(err)
	}
	_ = sj.Set("y", 1)
	if err := j.m.Replicate(ctx, sj); err != nil { // version 2, to p only
		t.Fatal(err)
	}
	_ = sa.Set("x", "a") // a's request, not ended yet
	nw.Heal(a.tn, j.tn)
	if err := j.ch.WaitForMembers(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if err := a.ch.WaitForMembers(ctx, 2); err != nil {
		t.Fatal(err)
	}
	_ = sj.Set("y", 2)
	if err := j.m.Replicate(ctx, sj); err != nil { // version 3
		t.Fatal(err)
	}
	testutil.EventuallyTrue(t, 10*time.Second, "a's repair", func() bool {
		return a.m.Stats().TransferRepairs > 0 && a.m.Find(newID) != nil && delta.RepairIdle(a.m)
	})
	if err := a.m.Replicate(ctx, sa); err != nil { // a's request ends
		t.Fatal(err)
	}
	if l, r := attrs(a.m, newID), attrs(j.m, newID); l != r {
		t.Errorf("a %q, j %q; want the same (a's pending x=a went out after the repair loaded j's copy over it)", l, r)
	}
}

// TestDetectedMutationAgrees: with Config.DetectMutations, a request on a mutates
// attribute x in place (detected only when the request ends), and b's concurrent change of
// x arrives before that: the mutation is not marked as a change made here, b's value
// replaces a's entry, and a's mutation is lost (documented; Set or MarkDirty mark it).
// Both nodes end with b's value.
func TestDetectedMutationAgrees(t *testing.T) {
	ctx := context.Background()
	nw := channeltest.NewNetwork()
	cfg := delta.Config{Replication: delta.ReplicateAcked, DetectMutations: true}
	cfg.JvmRoute = "a"
	a := startReady(t, nw, cfg)
	cfg.JvmRoute = "b"
	b := startReady(t, nw, cfg)
	if err := a.ch.WaitForMembers(ctx, 1); err != nil {
		t.Fatal(err)
	}
	sa := create(t, a, "x", map[string]any{"k": "start"})
	id := sa.ID()
	v, _ := sa.Get("x") // a's request reads x and changes it in place
	v.(map[string]any)["k"] = "a"
	sb := b.m.Find(id)
	_ = sb.Set("x", map[string]any{"k": "b"})
	if err := b.m.Replicate(ctx, sb); err != nil {
		t.Fatal(err)
	}
	if err := a.m.Replicate(ctx, sa); err != nil { // a's request ends
		t.Fatal(err)
	}
	if l, r := attrs(a.m, id), attrs(b.m, id); l != r || l != "x=map[k:b] " {
		t.Errorf("a %q, b %q; want both x=map[k:b]", l, r)
	}
}
