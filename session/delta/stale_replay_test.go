package delta_test

import (
	"context"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/session/delta"
)

// A delta that arrives while a refresh or a repair loads a member's copy waits, and is
// replayed after the load; one older than the copy (stale) is dropped but for its
// attribute changes whose stamps win: a concurrent change the member had not applied
// when it took its snapshot. In both tests below, q's delta of version 2 (y=q, z=q) is
// such a change, and p's copy of version 3 holds z=p3 stamped (3, p), which wins over
// q's z. j must end with y=q (dropping the delta whole, as Tomcat does, loses it) and
// z=p3 (applying it whole would undo p's later change).

// staleChange is q's delta of version 2 setting y and z, sent at ts.
func staleChange(ts int64) *delta.Message {
	m := repairMsg(delta.EventDelta, "S.p", ts)
	m.Version = 2
	m.Actions = []delta.Action{
		{Type: delta.ActionAttribute, Op: delta.OpSet, Name: "y", Value: gobBytes("q")},
		{Type: delta.ActionAttribute, Op: delta.OpSet, Name: "z", Value: gobBytes("q")},
	}
	return m
}

// pCopy is p's copy of S.p (created at T) at version, with k and z stamped by p.
func pCopy(T int64, p *raw, version uint64, k string, kv uint64, z string, zv uint64) delta.SessionState {
	st := repairState(T, "S.p", version, k)
	st.Attributes = append(st.Attributes, delta.NamedValue{Name: "z", Value: gobBytes(z)})
	origin := delta.OriginOf(p.ch.LocalMember())
	delta.SetStamp(&st, 0, kv, origin)
	delta.SetStamp(&st, 1, zv, origin)
	return st
}

// newRefuser is a raw member that refuses (FAIL_ACK) every session message: asked for its
// sessions, it gives none, as a member that does not list the asker yet.
func newRefuser(t *testing.T, nw *channeltest.Network) *raw {
	t.Helper()
	r := &raw{}
	r.tn, r.ch = newChannel(t, nw)
	r.ch.AddMessageListener(failingSessions{fail: func() bool { return true }})
	return r
}

// TestRefreshReplaysAStaleDeltaByTheStamps: j (ClusterSize 3, members p and q) holds S.p
// at version 1 (k=v1, z=v1). Cut off and healed, j refreshes: p gives its copy of version
// 3 (z=p3), q gives none; q's delta of version 2 arrives before p's copy and waits.
func TestRefreshReplaysAStaleDeltaByTheStamps(t *testing.T) {
	ctx := context.Background()
	nw := channeltest.NewNetwork()
	p, asked := newCounter(t, nw)
	q := newRefuser(t, nw)
	j := startNode(t, nw, delta.Config{JvmRoute: "j", Replication: delta.ReplicateAcked, ClusterSize: 3})
	testutil.EventuallyTrue(t, 10*time.Second, "the state transfer's request", func() bool { return asked.Load() == 1 })
	T := time.Now().UnixMilli()
	transferFrom(t, p, j, T, pCopy(T, p, 1, "v1", 1, "v1", 1))
	if err := j.m.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	testutil.EventuallyTrue(t, 10*time.Second, "j serving", func() bool { return j.m.Serving() == nil })

	refreshes := j.m.Stats().QuorumRefreshes
	nw.Isolate(j.tn, p.tn, q.tn)
	testutil.EventuallyTrue(t, 10*time.Second, "j without the quorum", func() bool { return j.m.Serving() != nil })
	nw.Heal(j.tn, p.tn)
	nw.Heal(j.tn, q.tn)
	testutil.EventuallyTrue(t, 10*time.Second, "the refresh's request to p, j listing q", func() bool {
		return asked.Load() == 2 && len(j.ch.Members()) == 2
	})
	stale := j.m.Stats().DroppedStale
	q.send(t, j.ch.LocalMember(), staleChange(T+1))
	if got := attrs(j.m, "S.p"); got != "k=v1 z=v1 " {
		t.Fatalf("during the refresh j has %q, want k=v1 z=v1 (q's delta waits)", got)
	}
	transferFrom(t, p, j, T+2, pCopy(T, p, 3, "v1", 1, "p3", 3))
	testutil.EventuallyTrue(t, 10*time.Second, "j's refresh", func() bool {
		return j.m.Stats().QuorumRefreshes > refreshes && j.m.Serving() == nil
	})
	if got, st := attrs(j.m, "S.p"), j.m.Stats(); got != "k=v1 y=q z=p3 " || st.DroppedStale != stale+1 {
		t.Errorf("j, refreshed, has %q and dropped %d stale messages; want k=v1 y=q z=p3 "+
			"(q's stale delta's y, p's later z) and 1", got, st.DroppedStale-stale)
	}
}

// TestRepairReplaysAStaleDeltaByTheStamps: j, running, lacks S.p; p's delta of version 2
// (k=p2) makes j ask p for every session (a repair). q's delta of version 2 arrives
// meanwhile and waits; p's answer, a snapshot taken after both deltas were sent, holds S.p
// at version 3 (k=p2, z=p3).
func TestRepairReplaysAStaleDeltaByTheStamps(t *testing.T) {
	ctx := context.Background()
	nw := channeltest.NewNetwork()
	p, asked := newCounter(t, nw)
	q := newRefuser(t, nw)
	j := startNode(t, nw, delta.Config{JvmRoute: "j"})
	testutil.EventuallyTrue(t, 10*time.Second, "the state transfer's request", func() bool { return asked.Load() == 1 })
	T := time.Now().UnixMilli()
	jm := j.ch.LocalMember()
	p.send(t, jm, repairMsg(delta.EventTransferComplete, "SESSION-STATE-TRANSFERRED", T))
	if err := j.m.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	testutil.EventuallyTrue(t, 10*time.Second, "j listing p and q", func() bool { return len(j.ch.Members()) == 2 })

	p.send(t, jm, repairSet(repairMsg(delta.EventDelta, "S.p", T+1), 2, "p2"))
	testutil.EventuallyTrue(t, 10*time.Second, "the repair's request to p", func() bool { return asked.Load() == 2 })
	stale := j.m.Stats().DroppedStale
	q.send(t, jm, staleChange(T+2))
	if s := j.m.Find("S.p"); s != nil {
		t.Fatalf("during the repair j holds S.p (%q)", attrs(j.m, "S.p"))
	}
	chunk := repairMsg(delta.EventAllSessionData, "SESSION-STATE", T+10)
	chunk.Sessions = []delta.SessionState{pCopy(T, p, 3, "p2", 2, "p3", 3)}
	p.send(t, jm, chunk)
	p.send(t, jm, repairMsg(delta.EventTransferComplete, "SESSION-STATE-TRANSFERRED", T+10))
	testutil.EventuallyTrue(t, 10*time.Second, "the repair over", func() bool {
		return j.m.Find("S.p") != nil && delta.RepairIdle(j.m)
	})
	if got, st := attrs(j.m, "S.p"), j.m.Stats(); got != "k=p2 y=q z=p3 " || st.DroppedStale < stale+2 {
		t.Errorf("j, repaired, has %q and dropped %d stale messages; want k=p2 y=q z=p3 "+
			"(q's stale delta's y, p's later z) and 2 (p's delta and q's)", got, st.DroppedStale-stale)
	}
}
