package delta_test

// The stamps (stamp.go) and the versions: a copy holding a stamp above its version (a
// failed delta of its node, put back), and a refresh's merge of a member's older copy.

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/session/delta"
)

// startCtlID is startCtl on a channel with the given unique id (to choose the origins).
func startCtlID(t *testing.T, nw *channeltest.Network, id channel.UniqueID, cfg delta.Config) (*delta.Manager, *ctlChannel) {
	t.Helper()
	n := nw.NewNode()
	ch, err := channel.New(channel.Config{Transport: n.Transport(), Membership: n.Membership(), HeartbeatInterval: -1,
		UniqueID: id})
	if err != nil {
		t.Fatal(err)
	}
	channeltest.Start(t, ch)
	c := &ctlChannel{Channel: ch}
	return readyManager(t, c, nil, cfg), c
}

// loHiIDs returns two unique ids, lo's origin below hi's.
func loHiIDs() (lo, hi channel.UniqueID) {
	a := channel.UniqueID{9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 1, 2, 3, 4, 5, 1}
	b := channel.UniqueID{9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 1, 2, 3, 4, 5, 2}
	if delta.OriginOf(channel.Member{UniqueID: a}) > delta.OriginOf(channel.Member{UniqueID: b}) {
		return b, a
	}
	return a, b
}

// TestChangeAfterATransferredFailedChangeWins: hi's delta (x=h1, version 2) fails (not
// delivered); hi puts x=h1 back for its next delta and gives version 2 back (the session
// is at version 1), but hi's entry keeps the stamp (2, hi). A joiner lo (lower origin)
// takes the session from hi: version 1, x=h1 stamped (2, hi). lo's user sees h1 and sets
// x: a change made after h1 was seen, which must win. lo's delta must take a version
// above the stamp it loaded, not only above its version: (2, lo) lost to (2, hi) on hi,
// and hi's next request sent h1 again, undoing lo's change everywhere.
func TestChangeAfterATransferredFailedChangeWins(t *testing.T) {
	ctx := context.Background()
	nw := channeltest.NewNetwork()
	loID, hiID := loHiIDs()
	hi, hiCh := startCtlID(t, nw, hiID, delta.Config{JvmRoute: "hi", Replication: delta.ReplicateAcked})
	newRaw(t, nw, nil) // a member, so that hi's sends have somewhere to fail
	if err := hiCh.WaitForMembers(ctx, 1); err != nil {
		t.Fatal(err)
	}
	s, id := startedSession(t, hi)
	_ = s.Set("x", "h1")
	if err := replicateHeldToFail(hi, hiCh, s, false)(); err == nil {
		t.Fatal("hi's send did not fail")
	}

	// lo joins and takes the sessions from hi, the oldest member.
	lo, _ := startCtlID(t, nw, loID, delta.Config{JvmRoute: "lo", Replication: delta.ReplicateAcked})
	sl := lo.Find(id)
	if v, _ := sl.Get("x"); v != "h1" {
		t.Fatalf("lo has x=%v, want h1 (hi's copy)", v)
	}
	_ = sl.Set("x", "lo after h1")
	if err := lo.Replicate(ctx, sl); err != nil {
		t.Fatal(err)
	}
	if l, h := attrs(lo, id), attrs(hi, id); l != h {
		t.Errorf("after lo's change made after it saw h1: lo %q, hi %q; want both x=lo after h1 (hi skipped %d changes as older)",
			l, h, hi.Stats().OlderChangesSkipped)
	}
	// hi's next request changes something else; its pending x=h1 goes out with it.
	_ = s.Set("y", 1)
	if err := hi.Replicate(ctx, s); err != nil {
		t.Fatal(err)
	}
	if l, h := attrs(lo, id), attrs(hi, id); l != h || l != "x=lo after h1 y=1 " {
		t.Errorf("after hi's next request: lo %q, hi %q; want both x=lo after h1 y=1 (lo's change was made after h1)", l, h)
	}
}

// TestRefreshDoesNotResurrectARemovedAttribute: j (ClusterSize 3, members p and q, raw Go
// peers) creates S, sets k, then removes k and, in later requests, eight other attributes
// (its tombstone of k is forgotten: a session keeps eight); with setAgain one more request
// sets one of those eight again (seven tombstones left). p missed those deltas (it was cut
// off from j: its copy is S at version 1 with k). j loses the quorum and gets it back; its
// refresh asks p and q. p's copy is older by version, and k has no stamp on j any more:
// the refresh must not bring the removed attribute back from p's copy.
func TestRefreshDoesNotResurrectARemovedAttribute(t *testing.T) {
	for _, setAgain := range []bool{false, true} {
		t.Run(fmt.Sprint("setAgain=", setAgain), func(t *testing.T) {
			refreshAfterForgottenRemoval(t, setAgain)
		})
	}
}

func refreshAfterForgottenRemoval(t *testing.T, setAgain bool) {
	ctx := context.Background()
	nw := channeltest.NewNetwork()
	var id string
	var jOrigin uint32
	now := time.Now().UnixMilli()
	want, last := "keep=keep ", uint64(4)
	if setAgain {
		want, last = "a0=again keep=keep ", 5
	}
	pState := func(refresh bool) []delta.SessionState {
		if !refresh {
			return nil
		}
		// p's copy: S as j's first delta left it (version 1: keep and k).
		st := repairState(now, id, 1, "v1") // k=v1
		st.Attributes = append(st.Attributes, delta.NamedValue{Name: "keep", Value: gobBytes("keep")})
		delta.SetStamp(&st, 0, 1, jOrigin)
		delta.SetStamp(&st, 1, 1, jOrigin)
		return []delta.SessionState{st}
	}
	qState := func(refresh bool) []delta.SessionState {
		if !refresh {
			return nil
		}
		// q's copy: S at j's last version, without k.
		st := delta.SessionState{ID: id, CreationTime: now, LastAccessedTime: now, MaxInactive: 1800, Version: last,
			Attributes: []delta.NamedValue{{Name: "keep", Value: gobBytes("keep")}}}
		delta.SetStamp(&st, 0, 1, jOrigin)
		if setAgain {
			st.Attributes = append(st.Attributes, delta.NamedValue{Name: "a0", Value: gobBytes("again")})
			delta.SetStamp(&st, 1, 5, jOrigin)
		}
		return []delta.SessionState{st}
	}
	p, q := answerer(t, nw, pState), answerer(t, nw, qState)
	j := startNode(t, nw, delta.Config{JvmRoute: "j", Replication: delta.ReplicateAcked, ClusterSize: 3})
	if err := j.m.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	if err := j.ch.WaitForMembers(ctx, 2); err != nil {
		t.Fatal(err)
	}
	testutil.EventuallyTrue(t, 10*time.Second, "j serving", func() bool { return j.m.Serving() == nil })
	jOrigin = delta.OriginOf(j.ch.LocalMember())

	s, err := j.m.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	id = s.ID()
	step := func(f func()) {
		t.Helper()
		f()
		if err := j.m.Replicate(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	step(func() { _ = s.Set("keep", "keep"); _ = s.Set("k", "v1") }) // version 1
	step(func() { _ = s.Remove("k") })                               // version 2
	step(func() {                                                    // version 3
		for i := range 8 {
			_ = s.Set(fmt.Sprint("a", i), i)
		}
	})
	step(func() { // version 4: k's tombstone is forgotten
		for i := range 8 {
			_ = s.Remove(fmt.Sprint("a", i))
		}
	})
	if setAgain {
		step(func() { _ = s.Set("a0", "again") }) // version 5: seven tombstones left
	}
	if got := attrs(j.m, id); got != want {
		t.Fatalf("j has %q, want %q", got, want)
	}

	refreshAfterCut(t, nw, j, p, q)
	if got := attrs(j.m, id); got != want {
		t.Errorf("j, refreshed from p's copy of version 1 (j is at version %d), has %q; want %q "+
			"(k was removed on j at version 2)", last, got, want)
	}
}

// TestRefreshMergedStampKeepsTheNextVersionAbove: the refresh side of
// TestChangeAfterATransferredFailedChangeWins. j (raw Go peers p and q) holds S at
// version 1. ClusterSize is 4, so that j's refresh takes both members' copies: with 3, j
// and either member are a majority, and a refresh that began with q alone back in j's
// view (the links heal one after the other) ended on q's copy, without p's x (1 run in
// 20 failed so). p's delta setting x (version 2) failed (p was cut off too), so p
// holds x=p stamped (2, p) at version 1, its version given back. j refreshes and takes
// x=p by its stamp. j's user then sets x, a change made after p's was seen: j's delta
// must take a version above 2, or its stamp (2, j) loses to p's (2, p) on p.
func TestRefreshMergedStampKeepsTheNextVersionAbove(t *testing.T) {
	ctx := context.Background()
	nw := channeltest.NewNetwork()
	var id string
	var pOrigin, jOrigin uint32
	now := time.Now().UnixMilli()
	versions := make(chan uint64, 16) // of j's deltas
	mk := func(withX bool) func(bool) []delta.SessionState {
		return func(refresh bool) []delta.SessionState {
			if !refresh {
				return nil
			}
			st := delta.SessionState{ID: id, CreationTime: now, LastAccessedTime: now, MaxInactive: 1800, Version: 1,
				Attributes: []delta.NamedValue{{Name: "x", Value: gobBytes("start")}}}
			delta.SetStamp(&st, 0, 1, jOrigin)
			if withX {
				st.Attributes[0].Value = gobBytes("p")
				delta.SetStamp(&st, 0, 2, pOrigin) // p's failed delta, put back: version 1, stamp (2, p)
			}
			return []delta.SessionState{st}
		}
	}
	var r1, r2 *raw
	withX := map[*raw]bool{}
	pick := func(r **raw) func(bool) []delta.SessionState {
		return func(refresh bool) []delta.SessionState {
			if !refresh { // the joiner's transfer: before r1 and r2 are set
				return nil
			}
			return mk(withX[*r])(refresh)
		}
	}
	r1, r2 = answerer(t, nw, pick(&r1)), answerer(t, nw, pick(&r2))
	j := startNodeID(t, nw, zeroOriginID(), delta.Config{JvmRoute: "j", Replication: delta.ReplicateAcked, ClusterSize: 4})
	if err := j.m.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	if err := j.ch.WaitForMembers(ctx, 2); err != nil {
		t.Fatal(err)
	}
	testutil.EventuallyTrue(t, 10*time.Second, "j serving", func() bool { return j.m.Serving() == nil })
	jOrigin = delta.OriginOf(j.ch.LocalMember())
	// p: a raw peer whose origin is above j's, 0.
	p := r1
	if delta.OriginOf(r2.ch.LocalMember()) > delta.OriginOf(r1.ch.LocalMember()) {
		p = r2
	}
	pOrigin = delta.OriginOf(p.ch.LocalMember())
	if jOrigin != 0 || pOrigin == 0 {
		t.Fatalf("origins: j %d, want 0; p %d, want above it", jOrigin, pOrigin)
	}
	withX[p] = true
	p.ch.AddMessageListener(channel.MessageListenerFunc(func(msg *channel.Message) error {
		if m, err := p.codec.DecodeMessage(msg.Data); err == nil && m.Event == delta.EventDelta {
			versions <- m.Version
		}
		return nil
	}))

	s, err := j.m.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	id = s.ID()
	_ = s.Set("x", "start")
	if err := j.m.Replicate(ctx, s); err != nil { // version 1
		t.Fatal(err)
	}
	<-versions
	refreshes := j.m.Stats().QuorumRefreshes
	nw.Isolate(j.tn, r1.tn, r2.tn)
	testutil.EventuallyTrue(t, 10*time.Second, "j without the quorum", func() bool { return j.m.Serving() != nil })
	nw.Heal(j.tn, r1.tn)
	nw.Heal(j.tn, r2.tn)
	testutil.EventuallyTrue(t, 10*time.Second, "j's refresh", func() bool {
		return j.m.Stats().QuorumRefreshes > refreshes && j.m.Serving() == nil
	})
	if got := valueX(j.m, id); got != "p" {
		t.Fatalf("j, refreshed, has x=%v, want p (mergeStamped, by its stamp (2, p))", got)
	}
	sj := j.m.Find(id)
	_ = sj.Set("x", "j after p")
	if err := j.m.Replicate(ctx, sj); err != nil {
		t.Fatal(err)
	}
	select {
	case v := <-versions:
		if v <= 2 {
			t.Errorf("j's delta after it saw p's x (stamped (2, p)) has version %d, stamp (%d, j): it loses to (2, p) on p; want a version above 2", v, v)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no delta from j")
	}
}

// valueX is the attribute "x" of m's session id, nil without one.
func valueX(m *delta.Manager, id string) any {
	if s := m.Find(id); s != nil {
		v, _ := s.Get("x")
		return v
	}
	return nil
}

// zeroOriginID returns a unique id whose origin is 0, the lowest: any other member's is
// above it but for a collision of the 32-bit hash (found by inverting FNV-1a's last two
// steps).
func zeroOriginID() channel.UniqueID {
	return channel.UniqueID{7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 2, 111, 190, 129, 94}
}

// startNodeID is startNode on a channel with the given unique id.
func startNodeID(t *testing.T, nw *channeltest.Network, id channel.UniqueID, cfg delta.Config) *node {
	t.Helper()
	n := nw.NewNode()
	ch, err := channel.New(channel.Config{Transport: n.Transport(), Membership: n.Membership(), HeartbeatInterval: -1,
		UniqueID: id})
	if err != nil {
		t.Fatal(err)
	}
	channeltest.Start(t, ch)
	return startManager(t, n, ch, cfg)
}
