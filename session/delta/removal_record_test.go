package delta_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/session/delta"
)

// TestJoinerKnowsWhatWasRemoved: a session is made, changed and invalidated on A before
// J joins. J's state transfer carried no record of the removal, so a late message of
// that session (its creation and first delta, overtaken on their way to J) made it
// again on J, and a session J made again under that id (CreateWithID) started at version
// 0: A, which remembers the removal, dropped its creation and first delta.
func TestJoinerKnowsWhatWasRemoved(t *testing.T) {
	ctx := context.Background()
	nw := channeltest.NewNetwork()
	cfg := delta.Config{JvmRoute: "a", Replication: delta.ReplicateAcked}
	a := startReady(t, nw, cfg)
	var mu sync.Mutex
	var msgs []*delta.Message
	r := newRaw(t, nw, func(m *delta.Message, _ channel.Member) {
		mu.Lock()
		msgs = append(msgs, m)
		mu.Unlock()
	})
	const id = "tok"
	s, err := a.m.CreateWithID(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := s.Set("k", i); err != nil {
			t.Fatal(err)
		}
		if err := a.m.Replicate(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.m.Invalidate(ctx, s); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	old := append([]*delta.Message(nil), msgs...)
	mu.Unlock()
	wantSent(t, old, delta.EventCreated, delta.EventDelta, delta.EventDelta, delta.EventDelta, delta.EventExpired)

	cfg.JvmRoute = "j"
	j := startReady(t, nw, cfg)
	r.send(t, j.ch.LocalMember(), old[0]) // the old session's creation and first delta, late
	r.send(t, j.ch.LocalMember(), old[1])
	if j.m.Find(id) != nil {
		t.Fatal("J made the removed session again from its late messages")
	}
	s2, err := j.m.CreateWithID(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if err := s2.Set("k", "again"); err != nil {
		t.Fatal(err)
	}
	if err := j.m.Replicate(ctx, s2); err != nil {
		t.Fatal(err)
	}
	if got := valueK(a.m, id); got != "again" {
		t.Errorf("A has k = %v in the session J made again under %s, want again", got, id)
	}
}

// TestRefreshConsultsRecentRemovals: j, whose only member is a raw peer, is told a
// session it does not hold (its creation never reached j) was removed; then a partition
// cuts them apart and heals, and the peer's answer to j's refresh holds that session at a
// version up to the removal's (a member that missed the removal). The refresh consulted
// only the records kept for refreshes, not the one of the removals j was told of, and
// made the session again on j.
func TestRefreshConsultsRecentRemovals(t *testing.T) {
	nw := channeltest.NewNetwork()
	peer, asked := newCounter(t, nw)
	j := startNode(t, nw, delta.Config{JvmRoute: "j", Replication: delta.ReplicateAcked, ClusterSize: 2})
	testutil.EventuallyTrue(t, 10*time.Second, "the state transfer's request", func() bool { return asked.Load() == 1 })
	T := time.Now().UnixMilli()
	transferFrom(t, peer, j, T, repairState(T, "S.p", 1, "v1"))
	if err := j.m.WaitReady(context.Background()); err != nil {
		t.Fatal(err)
	}
	expiry := repairMsg(delta.EventExpired, "X.p", T+1)
	expiry.Version = 3
	peer.send(t, j.ch.LocalMember(), expiry)
	nw.Partition(peer.tn, j.tn)
	nw.Heal(peer.tn, j.tn)
	testutil.EventuallyTrue(t, 10*time.Second, "the refresh's request", func() bool { return asked.Load() >= 2 })
	transferFrom(t, peer, j, T+2, repairState(T, "S.p", 1, "v1"), repairState(T, "X.p", 3, "x"))
	testutil.EventuallyTrue(t, 10*time.Second, "the refresh's end", func() bool { return j.m.Stats().QuorumRefreshes == 1 })
	if got := valueK(j.m, "X.p"); got != nil {
		t.Errorf("the refresh made the removed session X.p again on j (k = %v)", got)
	}
	if got := valueK(j.m, "S.p"); got != "v1" {
		t.Errorf("S.p: k = %v, want v1", got)
	}
}

// TestRemovalRememberedPastCount: a session's EVT_SESSION_EXPIRED overtakes its creation
// and first delta on their way to B, and 4096 other removals reach B in between (a busy
// cluster). B forgot the removal after 4096 newer ones, whatever its age, and the late
// messages made the logged-out session again.
func TestRemovalRememberedPastCount(t *testing.T) {
	cfg := delta.Config{JvmRoute: "a", Replication: delta.ReplicateAsync}
	a, sent := recorded(t, cfg)
	ctx := context.Background()
	s := create(t, a, "user", "alice")
	if err := a.m.Invalidate(ctx, s); err != nil {
		t.Fatal(err)
	}
	msgs := sent()
	wantSent(t, msgs, delta.EventCreated, delta.EventDelta, delta.EventExpired)
	cfg.JvmRoute = "b"
	nw := channeltest.NewNetwork()
	b := startReady(t, nw, cfg)
	r := newRaw(t, nw, nil)
	to := b.ch.LocalMember()
	r.send(t, to, msgs[2])
	for i := range 4096 {
		m := repairMsg(delta.EventExpired, fmt.Sprintf("other%d.c", i), time.Now().UnixMilli())
		m.Version = 2
		r.send(t, to, m)
	}
	r.send(t, to, msgs[0])
	r.send(t, to, msgs[1])
	if got := b.m.Find(s.ID()); got != nil {
		v, _ := got.Get("user")
		t.Fatalf("B holds the logged-out session %s again (user %v)", s.ID(), v)
	}
}

// TestLateExpiryOfOldSession: a session is made, invalidated and made again under the
// same id on A (CreateWithID), with asynchronous replication; the old session's
// EVT_SESSION_EXPIRED reaches B after the new session's creation (and first delta). B
// took it for the new session's removal and removed it.
func TestLateExpiryOfOldSession(t *testing.T) {
	cfg := delta.Config{JvmRoute: "a", Replication: delta.ReplicateAsync}
	a, sent := recorded(t, cfg)
	const id = "tok"
	makeAgain(t, a.m, id)
	msgs := sent()
	wantSent(t, msgs, delta.EventCreated, delta.EventDelta, delta.EventExpired, delta.EventCreated, delta.EventDelta)
	cfg.JvmRoute = "b"
	for name, order := range map[string][]int{
		"expiry last":                        {0, 1, 3, 4, 2},
		"expiry after the creation":          {0, 1, 3, 2, 4},
		"delta before creation, expiry last": {0, 1, 4, 3, 2},
	} {
		t.Run(name, func(t *testing.T) {
			b := replayTo(t, cfg, msgs, order...)
			c := b.m.Find(id)
			if c == nil {
				t.Fatal("the old session's late expiry removed the session made again on B")
			}
			if v, _ := delta.Attr[int](c, "k"); v != 1 {
				t.Errorf("k on B is %d, want 1 (the new session's)", v)
			}
		})
	}
}

// TestJoinerSparesSessionMadeAgain: a session is made, invalidated and made again under
// the same id on A before J joins; the earlier session's EVT_SESSION_EXPIRED reaches J
// late, after J's state transfer. The transferred copy did not know it was made again,
// and the late expiry removed it on J; J now learns it from the removal's record, which
// the copy is newer than.
func TestJoinerSparesSessionMadeAgain(t *testing.T) {
	nw := channeltest.NewNetwork()
	cfg := delta.Config{JvmRoute: "a", Replication: delta.ReplicateAcked}
	a := startReady(t, nw, cfg)
	r, lastExpiry := newExpiryCatcher(t, nw)
	const id = "tok"
	makeAgain(t, a.m, id)
	late := lastExpiry()
	if late == nil {
		t.Fatal("A sent no expiry")
	}
	cfg.JvmRoute = "j"
	j := startReady(t, nw, cfg)
	r.send(t, j.ch.LocalMember(), late)
	c := j.m.Find(id)
	if c == nil {
		t.Fatal("the earlier session's late expiry removed the transferred session made again on J")
	}
	if v, _ := delta.Attr[int](c, "k"); v != 1 {
		t.Errorf("k on J is %d, want 1", v)
	}
}
