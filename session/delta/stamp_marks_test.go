package delta_test

// The stamps (stamp.go) with the marks of changes made here and not sent yet, with stale
// deltas applied by stamps after a state transfer, and with a refresh's copies of one
// version.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/session/delta"
)

// TestSkippedConcurrentVersionKeptAfterFailure: lo's delta (x=lo1, version 2) is in
// flight, and lo's next request sets x=lo2 (not sent yet: marked as changed here). hi's
// concurrent delta of version 2 (x=hi) reaches lo, which skips it: x was changed here.
// lo's send then fails (not delivered). lo must keep version 2 taken, as when it applies
// a concurrent change of that version: given back, lo's next delta carried x=lo2 with the
// stamp (2, lo), which lost to hi's (2, hi) on hi, and the nodes differed for good.
func TestSkippedConcurrentVersionKeptAfterFailure(t *testing.T) {
	ctx := context.Background()
	lo, loCh, hi, _ := twoCtl(t, delta.ReplicateAcked)
	s, id := startedSession(t, lo)

	_ = s.Set("x", "lo1")
	finish := replicateHeldToFail(lo, loCh, s, false)
	_ = s.Set("x", "lo2") // lo's next request, while the first one's delta is in flight
	sh := hi.Find(id)
	_ = sh.Set("x", "hi")
	if err := hi.Replicate(ctx, sh); err != nil { // version 2, from hi: skipped on lo
		t.Fatal(err)
	}
	if err := finish(); err == nil {
		t.Fatal("lo's send did not fail")
	}
	if err := lo.Replicate(ctx, s); err != nil { // the second request ends
		t.Fatal(err)
	}
	if l, h := attrs(lo, id), attrs(hi, id); l != h {
		t.Errorf("lo %q, hi %q; want the same (the doc: x=lo2, changed here and not sent yet when hi's arrived, "+
			"wins everywhere)", l, h)
	}
}

// answerer is a raw Go member that answers every request for every session at once with
// the sessions states returns (refresh: the request asks for removals, as a refresh's
// does).
func answerer(t *testing.T, nw *channeltest.Network, states func(refresh bool) []delta.SessionState) *raw {
	t.Helper()
	var r *raw
	r = newRaw(t, nw, func(m *delta.Message, src channel.Member) {
		if m.Event != delta.EventGetAllSessions {
			return
		}
		refresh := m.Version&delta.AskRemovals != 0
		go func() {
			T := time.Now().UnixMilli()
			chunk := repairMsg(delta.EventAllSessionData, "SESSION-STATE", T)
			chunk.Sessions = states(refresh)
			for _, msg := range []*delta.Message{chunk, repairMsg(delta.EventTransferComplete, "SESSION-STATE-TRANSFERRED", T)} {
				data, err := r.codec.AppendMessage(nil, msg)
				if err != nil {
					t.Error(err)
					return
				}
				_ = r.ch.Send(context.Background(), []channel.Member{src}, data, channel.OptUseAck|channel.OptSyncAck)
			}
		}()
	})
	return r
}

// refreshAfterCut cuts j (ClusterSize 3) off from p and q until it stands down, heals the
// links and waits for j's refresh, and for j serving again.
func refreshAfterCut(t *testing.T, nw *channeltest.Network, j *node, p, q *raw) {
	t.Helper()
	refreshes := j.m.Stats().QuorumRefreshes
	nw.Isolate(j.tn, p.tn, q.tn)
	testutil.EventuallyTrue(t, 10*time.Second, "j without the quorum", func() bool { return j.m.Serving() != nil })
	nw.Heal(j.tn, p.tn)
	nw.Heal(j.tn, q.tn)
	testutil.EventuallyTrue(t, 10*time.Second, "j's refresh", func() bool {
		return j.m.Stats().QuorumRefreshes > refreshes && j.m.Serving() == nil
	})
}

// TestRefreshKeepsAConcurrentChangeOfTheSameVersion: j (ClusterSize 3, members p and q,
// raw Go peers sending stamped copies) holds S at version 1 and applies p's delta of
// version 2 (k=p). A partition cuts j off; meanwhile q's concurrent delta, also of
// version 2 (y=q), reaches p only, and p and q acknowledge it. The partition heals: j
// refreshes, and both members give S at version 2 holding k=p and y=q. The members' copy
// is not newer by version, but j must take y=q by its stamp.
func TestRefreshKeepsAConcurrentChangeOfTheSameVersion(t *testing.T) {
	nw := channeltest.NewNetwork()
	now := time.Now().UnixMilli()
	var p, q *raw
	state := func(refresh bool) []delta.SessionState {
		if !refresh {
			st := repairState(now, "S.p", 1, "v1")
			delta.SetStamp(&st, 0, 1, delta.OriginOf(p.ch.LocalMember()))
			return []delta.SessionState{st}
		}
		st := repairState(now, "S.p", 2, "p")
		st.Attributes = append(st.Attributes, delta.NamedValue{Name: "y", Value: gobBytes("q")})
		delta.SetStamp(&st, 0, 2, delta.OriginOf(p.ch.LocalMember())) // as members of this version send it
		delta.SetStamp(&st, 1, 2, delta.OriginOf(q.ch.LocalMember()))
		return []delta.SessionState{st}
	}
	p, q = answerer(t, nw, state), answerer(t, nw, state)
	j := startNode(t, nw, delta.Config{JvmRoute: "j", Replication: delta.ReplicateAcked, ClusterSize: 3})
	if err := j.m.WaitReady(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := j.ch.WaitForMembers(context.Background(), 2); err != nil {
		t.Fatal(err)
	}
	testutil.EventuallyTrue(t, 10*time.Second, "j serving", func() bool { return j.m.Serving() == nil })
	p.send(t, j.ch.LocalMember(), repairSet(repairMsg(delta.EventDelta, "S.p", time.Now().UnixMilli()), 2, "p"))
	if got := valueK(j.m, "S.p"); got != "p" {
		t.Fatalf("j has k=%v, want p", got)
	}
	refreshAfterCut(t, nw, j, p, q)
	if got, st := attrs(j.m, "S.p"), j.m.Stats(); got != "k=p y=q " {
		t.Errorf("j, refreshed (sessions refreshed %d), has %q; want k=p y=q, as both members (q's change of y, acknowledged by the majority while j was cut off, is lost on j)", st.SessionsRefreshed, got)
	}
}

// TestStaleDeltaFiresNoListener: a delta a joiner queued during its transfer, which the
// donor applied before its snapshot (the transferred copy holds it, with its stamp), is
// stale: it changes nothing on the joiner, whose listeners must not hear of it (applied
// again by its equal stamp, it told them the attribute was replaced by the value it had).
func TestStaleDeltaFiresNoListener(t *testing.T) {
	ctx := context.Background()
	nw := channeltest.NewNetwork()
	d, dCh := startCtl(t, nw, delta.Config{JvmRoute: "d", Replication: delta.ReplicateAcked, MaxConcurrentTransfers: 1})
	_, id := startedSession(t, d, "k")
	w := newRaw(t, nw, nil)
	j, release := joinerWaitingAt(t, nw, d, dCh, 2)
	dm := dCh.LocalMember()
	jm := j.ch.LocalMember()
	// w's delta, made before d's snapshot, reaches d and j (which queues it).
	wd := repairSet(repairMsg(delta.EventDelta, id, time.Now().UnixMilli()-100), 2, "w")
	w.send(t, dm, wd)
	w.send(t, jm, wd)
	if got := valueK(d, id); got != "w" {
		t.Fatalf("d has k=%v, want w", got)
	}
	release()
	if err := j.m.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	if got := valueK(j.m, id); got != "w" {
		t.Fatalf("j has k=%v, want w", got)
	}
	st := j.m.Stats()
	if st.DroppedStale != 1 {
		t.Fatalf("j dropped %d deltas as stale, want 1", st.DroppedStale)
	}
	wantEvents(t, "j (the stale delta changed nothing)", j.rec.take())
}

// TestPendingRemovalKeptPastEightRemovals: one request on n removes x and eight other
// attributes (logging out, say). Until its delta is taken, x was changed here (its
// tombstone says so), and a change of x from another node must be skipped, although a
// session keeps eight tombstones: a late delta setting x (version 2 from q, older than
// p's version 3 that every node has) must not bring x back on n and drop n's removal.
func TestPendingRemovalKeptPastEightRemovals(t *testing.T) {
	nw := channeltest.NewNetwork()
	n := startReady(t, nw, delta.Config{JvmRoute: "n", Replication: delta.ReplicateAcked})
	removed := make(chan []string, 16) // the attributes n's deltas remove (p reports them)
	p := newRaw(t, nw, func(m *delta.Message, _ channel.Member) {
		if m.Event == delta.EventDelta {
			var names []string
			for _, a := range m.Actions {
				if a.Type == delta.ActionAttribute && a.Op == delta.OpRemove {
					names = append(names, a.Name)
				}
			}
			removed <- names
		}
	})
	q := newRaw(t, nw, nil)
	ctx := context.Background()
	if err := n.ch.WaitForMembers(ctx, 2); err != nil {
		t.Fatal(err)
	}
	s, err := n.m.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 8 {
		_ = s.Set(fmt.Sprint("a", i), i)
	}
	if err := n.m.Replicate(ctx, s); err != nil { // version 1
		t.Fatal(err)
	}
	<-removed
	id, to := s.ID(), n.ch.LocalMember()
	p.send(t, to, repairSet(repairMsg(delta.EventDelta, id, time.Now().UnixMilli()), 3, "p@3")) // x is "k"
	// n's request: removes k, then the eight others.
	_ = s.Remove("k")
	for i := range 8 {
		_ = s.Remove(fmt.Sprint("a", i))
	}
	// q's delta of version 2, made before it saw p's, arrives late.
	q.send(t, to, repairSet(repairMsg(delta.EventDelta, id, time.Now().UnixMilli()), 2, "q@2"))
	if got := valueK(n.m, id); got != nil {
		t.Errorf("n has k=%v while its own removal of k is not sent yet; want none", got)
	}
	if err := n.m.Replicate(ctx, s); err != nil {
		t.Fatal(err)
	}
	got := <-removed
	if !slices.Contains(got, "k") {
		t.Errorf("n's delta removes %v, not k: n keeps q's k=%v, the others p's k=p@3 (q's older change is skipped there)",
			got, valueK(n.m, id))
	}
}

// TestAsyncReplicateGivenUpLeavesNoMark: asynchronous replication. A request on lo sets
// x=lo1; its delta is queued and being sent when code on lo sets x=lo2 and calls
// Replicate with a deadline, which gives up waiting for that send. The send then fails.
// lo's pending change must still go out (the queue takes it after the send, as for a
// caller that does not wait): left behind, x stayed marked as changed here and lo skipped
// every later change of x from another node.
func TestAsyncReplicateGivenUpLeavesNoMark(t *testing.T) {
	ctx := context.Background()
	lo, loCh, hi, _ := twoCtl(t, delta.ReplicateAsync)
	s, id := startedSession(t, lo)
	testutil.EventuallyTrue(t, 10*time.Second, "hi has the session", func() bool { return attrs(hi, id) == "x=start " })

	h := wrap(t, &node{m: lo}, delta.HTTPConfig{}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = delta.FromContext(r.Context()).Set("x", "lo1")
	}))
	entered, release := loCh.arm(false)
	get(h, "/", id) // returns at once; its delta is held at the gate
	<-entered
	_ = s.Set("x", "lo2")
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	err := lo.Replicate(short, s)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("lo's Replicate: %v, want the deadline", err)
	}
	release()
	delta.DrainAsync(lo)

	// Later, the client's requests go to hi.
	sh := hi.Find(id)
	for i := range 3 {
		_ = sh.Set("x", fmt.Sprint("hi", i))
		if err := hi.Replicate(ctx, sh); err != nil {
			t.Fatal(err)
		}
		delta.DrainAsync(hi)
	}
	if l, r := attrs(lo, id), attrs(hi, id); l != r {
		t.Errorf("lo %q, hi %q (lo skipped %d changes as older; lo has changes pending: %v); want the same",
			l, r, lo.Stats().OlderChangesSkipped, s.Dirty())
	}
}
