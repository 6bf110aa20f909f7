package delta_test

import (
	"context"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/session/delta"
)

// TestRefreshSparesSessionMadeAgain: a member removes session X.p (its expiry at version
// 3) and makes it again under the same id (CreateWithID: its creation carries the
// removal's version). J holds the new session's copy, made by the creation (no delta
// yet), when a refresh brings the member's record of the earlier removal: J's copy, at
// no version above the removal, was removed with the earlier session.
func TestRefreshSparesSessionMadeAgain(t *testing.T) {
	nw := channeltest.NewNetwork()
	peer, asked := newCounter(t, nw)
	j := startNode(t, nw, delta.Config{JvmRoute: "j", Replication: delta.ReplicateAcked, ClusterSize: 2})
	testutil.EventuallyTrue(t, 10*time.Second, "the state transfer's request", func() bool { return asked.Load() == 1 })
	T := time.Now().UnixMilli()
	transferFrom(t, peer, j, T, repairState(T, "S.p", 1, "v1"))
	if err := j.m.WaitReady(context.Background()); err != nil {
		t.Fatal(err)
	}
	to := j.ch.LocalMember()
	expiry := repairMsg(delta.EventExpired, "X.p", T+1)
	expiry.Version = 3
	peer.send(t, to, expiry)
	created := repairMsg(delta.EventCreated, "X.p", T+2)
	created.Version = 3
	peer.send(t, to, created)
	if j.m.Find("X.p") == nil {
		t.Fatal("J made no copy of the session made again")
	}
	nw.Partition(peer.tn, j.tn)
	nw.Heal(peer.tn, j.tn)
	testutil.EventuallyTrue(t, 10*time.Second, "the refresh's request", func() bool { return asked.Load() >= 2 })
	transferFrom(t, peer, j, T+3, repairState(T, "S.p", 1, "v1"), delta.SessionState{ID: "X.p", Version: 3, Removed: true})
	testutil.EventuallyTrue(t, 10*time.Second, "the refresh's end", func() bool { return j.m.Stats().QuorumRefreshes == 1 })
	if j.m.Find("X.p") == nil {
		t.Error("the refresh removed the copy of the session made again above the removal it merged")
	}
	if got := j.m.Stats().RefreshRemovals; got != 0 {
		t.Errorf("RefreshRemovals = %d, want 0", got)
	}
}

// TestOvertakingFirstDeltaDoesNotInheritTheEarlierSession: a session logged in as alice
// is made, changed, invalidated and made again under the same id on A (CreateWithID),
// with asynchronous replication. On B, which still holds the earlier session's copy, the
// new session's first delta overtakes its creation and the earlier session's expiry: it
// applied over that copy, and when the creation came the copy kept the earlier session's
// principal and attributes, as the new session's (and the late expiry spared it).
func TestOvertakingFirstDeltaDoesNotInheritTheEarlierSession(t *testing.T) {
	cfg := delta.Config{JvmRoute: "a", Replication: delta.ReplicateAsync}
	a, sent := recorded(t, cfg)
	ctx := context.Background()
	const id = "tok"
	for i := range 2 {
		s, err := a.m.CreateWithID(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Set("k", i); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			if err := s.Set("cart", "earlier"); err != nil {
				t.Fatal(err)
			}
			if err := s.SetPrincipal(&delta.Principal{Name: "alice"}); err != nil {
				t.Fatal(err)
			}
			if err := s.SetNote("n", "earlier"); err != nil {
				t.Fatal(err)
			}
		}
		if err := a.m.Replicate(ctx, s); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			if err := a.m.Invalidate(ctx, s); err != nil {
				t.Fatal(err)
			}
		}
	}
	msgs := sent()
	wantSent(t, msgs, delta.EventCreated, delta.EventDelta, delta.EventExpired, delta.EventCreated, delta.EventDelta)
	cfg.JvmRoute = "b"
	nw := channeltest.NewNetwork()
	b := startReady(t, nw, cfg)
	r := newRaw(t, nw, nil)
	to := b.ch.LocalMember()
	for _, i := range []int{0, 1, 4, 3, 2} {
		r.send(t, to, msgs[i])
	}
	c := b.m.Find(id)
	if c == nil {
		t.Fatal("B holds no copy of the session made again")
	}
	if v, _ := delta.Attr[int](c, "k"); v != 1 {
		t.Errorf("k on B is %d, want 1", v)
	}
	if v, ok := c.Get("cart"); ok {
		t.Errorf("the new session on B holds the earlier session's attribute cart = %v", v)
	}
	if p := c.Principal(); p != nil {
		t.Errorf("the new session on B is logged in as the earlier session's principal %q", p.Name)
	}
	if v, ok := c.Note("n"); ok {
		t.Errorf("the new session on B holds the earlier session's note n = %q", v)
	}
}

// TestLateCreationKeepsARepairedCopy: a session made again under a reused id (its
// creation carries the removal's version, 5) reaches J first by its delta (version 7),
// so J asks R for it, and loads R's copy; the creation comes after. J took the loaded
// copy's parts, which carry no stamps, for the earlier session's and emptied it.
func TestLateCreationKeepsARepairedCopy(t *testing.T) {
	nw := channeltest.NewNetwork()
	r, askedR := newAsker(t, nw)
	j := startNode(t, nw, delta.Config{JvmRoute: "j"})
	jm := waitFor(t, askedR)
	T := time.Now().UnixMilli()
	r.send(t, jm, repairMsg(delta.EventTransferComplete, "SESSION-STATE-TRANSFERRED", T))
	if err := j.m.WaitReady(context.Background()); err != nil {
		t.Fatal(err)
	}
	r.send(t, jm, repairSet(repairMsg(delta.EventDelta, "X.r", T+10), 7, "v7"))
	waitFor(t, askedR)
	chunk := repairMsg(delta.EventAllSessionData, "SESSION-STATE", T+15)
	st := repairState(T, "X.r", 7, "v7")
	st.Principal = &delta.Principal{Name: "bob"}
	chunk.Sessions = []delta.SessionState{st}
	r.send(t, jm, chunk)
	r.send(t, jm, repairMsg(delta.EventTransferComplete, "SESSION-STATE-TRANSFERRED", T+15))
	testutil.EventuallyTrue(t, 10*time.Second, "the repair ended", func() bool { return delta.RepairIdle(j.m) })
	created := repairMsg(delta.EventCreated, "X.r", T+5)
	created.Version = 5
	r.send(t, jm, created)
	c := j.m.Find("X.r")
	if c == nil {
		t.Fatal("J holds no copy of X.r")
	}
	if got := valueK(j.m, "X.r"); got != "v7" {
		t.Errorf("k = %v, want v7", got)
	}
	if p := c.Principal(); p == nil || p.Name != "bob" {
		t.Errorf("principal %v, want bob", p)
	}
}

// TestRepairedCopyOfSessionMadeAgainOutlivesTheEarlierExpiry: J holds the record of X.r's
// removal at version 5 when a delta (version 7) of the session made again under that id
// overtakes its creation; J asks R for it and loads R's copy. The earlier session's
// expiry, delivered again (a sender's retry), then removed the copy: the repaired copy
// did not learn it was made again above that removal, as a transferred one does.
func TestRepairedCopyOfSessionMadeAgainOutlivesTheEarlierExpiry(t *testing.T) {
	nw := channeltest.NewNetwork()
	r, askedR := newAsker(t, nw)
	q := newRaw(t, nw, nil)
	j := startNode(t, nw, delta.Config{JvmRoute: "j"})
	jm := waitFor(t, askedR)
	T := time.Now().UnixMilli()
	r.send(t, jm, repairMsg(delta.EventTransferComplete, "SESSION-STATE-TRANSFERRED", T))
	if err := j.m.WaitReady(context.Background()); err != nil {
		t.Fatal(err)
	}
	expiry := repairMsg(delta.EventExpired, "X.r", T+1)
	expiry.Version = 5
	q.send(t, jm, expiry)
	r.send(t, jm, repairSet(repairMsg(delta.EventDelta, "X.r", T+10), 7, "v7"))
	waitFor(t, askedR)
	chunk := repairMsg(delta.EventAllSessionData, "SESSION-STATE", T+15)
	chunk.Sessions = []delta.SessionState{repairState(T, "X.r", 7, "v7")}
	r.send(t, jm, chunk)
	r.send(t, jm, repairMsg(delta.EventTransferComplete, "SESSION-STATE-TRANSFERRED", T+15))
	testutil.EventuallyTrue(t, 10*time.Second, "the repair ended", func() bool { return delta.RepairIdle(j.m) })
	if got := valueK(j.m, "X.r"); got != "v7" {
		t.Fatalf("after the repair k = %v, want v7", got)
	}
	q.send(t, jm, expiry)
	if got := valueK(j.m, "X.r"); got != "v7" {
		t.Errorf("the earlier session's expiry, again, removed the repaired copy (k = %v)", got)
	}
}

// TestJoinerKeepsSessionJustMadeAgain: a session is made, invalidated and made again
// under the same id on A (CreateWithID), and J joins before the new session's first
// delta. A's copy starts at the removal's version, and the state transfer carried it and
// the removal's record, but not that the copy was made again above it: J removed the
// copy with the earlier session.
func TestJoinerKeepsSessionJustMadeAgain(t *testing.T) {
	ctx := context.Background()
	nw := channeltest.NewNetwork()
	cfg := delta.Config{JvmRoute: "a", Replication: delta.ReplicateAcked}
	a := startReady(t, nw, cfg)
	const id = "tok"
	s, err := a.m.CreateWithID(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Set("k", 0); err != nil {
		t.Fatal(err)
	}
	if err := a.m.Replicate(ctx, s); err != nil {
		t.Fatal(err)
	}
	if err := a.m.Invalidate(ctx, s); err != nil {
		t.Fatal(err)
	}
	if _, err := a.m.CreateWithID(ctx, id); err != nil {
		t.Fatal(err)
	}
	cfg.JvmRoute = "j"
	j := startReady(t, nw, cfg)
	if j.m.Find(id) == nil {
		t.Error("the joiner removed the session made again, with the earlier session's record")
	}
}
