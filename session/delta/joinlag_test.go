package delta_test

import (
	"context"
	"slices"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/session/delta"
)

// lateView is a delta.Channel that does not list one member yet, neither to send to nor
// to hear from: the view of a node whose membership has not heard from a joiner while
// the joiner, and the other members, already list it.
type lateView struct {
	*channel.Channel
	hidden *atomic.Pointer[channel.MemberKey]
}

func (v lateView) hides(k channel.MemberKey) bool {
	h := v.hidden.Load()
	return h != nil && *h == k
}

func (v lateView) Members() []channel.Member {
	return slices.DeleteFunc(v.Channel.Members(), func(m channel.Member) bool { return v.hides(m.Key()) })
}

func (v lateView) Member(k channel.MemberKey) (channel.Member, bool) {
	if v.hides(k) {
		return channel.Member{}, false
	}
	return v.Channel.Member(k)
}

// startLateViewed starts A (route a, acknowledged replication), ready, on a lateView of
// a channel of nw that hides the member whose key hidden holds.
func startLateViewed(t *testing.T, nw *channeltest.Network) (a *node, hidden *atomic.Pointer[channel.MemberKey]) {
	t.Helper()
	hidden = new(atomic.Pointer[channel.MemberKey])
	atn, ach := newChannel(t, nw)
	am := readyManager(t, lateView{ach, hidden}, nil, delta.Config{JvmRoute: "a", Replication: delta.ReplicateAcked})
	return &node{tn: atn, ch: ach, m: am}, hidden
}

// A member a that lists a joiner j late sends its acknowledged changes to the members it
// lists only. A change that reaches j's donor d after d took j's sessions is one j never
// gets from either, though a's caller was told every member has it. So j, once its
// transfer is done, asks every other member for the sessions it sent a message about
// since j started, and the removals and renames it sent since, asking again while a
// member does not list it yet (FAIL_ACK), and is ready only then: with a's copy merged,
// j holds the change, not the session a invalidated (a logout), and the renamed session
// under its new id only.
func TestJoinerCatchesUpWithAMemberThatListsItLate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		nw := channeltest.NewNetwork()
		d := startReady(t, nw, delta.Config{JvmRoute: "d", Replication: delta.ReplicateAcked}) // the oldest: the donor

		a, hidden := startLateViewed(t, nw)
		s := create(t, a, "k", 1)
		out := create(t, a, "k", 1)
		ren := create(t, a, "k", 1)
		oldID := ren.ID()
		untouched := create(t, a, "k", 1) // no catch-up sends it: a sent nothing about it since j started
		time.Sleep(time.Minute)           // synctest's clock: the two are a minute older than j

		jtn, jch := newChannel(t, nw)
		k := jtn.Member().Key()
		hidden.Store(&k) // before any message about a session: a does not list j yet
		j := startManager(t, jtn, jch, delta.Config{JvmRoute: "j", Replication: delta.ReplicateAcked,
			MemberWait: 10 * time.Second})
		synctest.Wait()
		if served := d.m.Stats().SessionsServed; served != 4 {
			t.Fatalf("the donor served %d sessions, want 4", served)
		}

		// d took j's sessions; a's change reaches d (and every member a lists) only.
		if err := s.Set("k", 2); err != nil {
			t.Fatal(err)
		}
		if err := a.m.Replicate(ctx, s); err != nil {
			t.Fatalf("a's change was not acknowledged: %v", err)
		}
		if err := a.m.Invalidate(ctx, out); err != nil {
			t.Fatalf("a's logout was not acknowledged: %v", err)
		}
		newID, err := a.m.ChangeSessionID(ctx, ren, "")
		if err != nil {
			t.Fatalf("a's rename was not acknowledged: %v", err)
		}
		if d.m.Find(out.ID()) != nil || d.m.Find(oldID) != nil || d.m.Find(newID) == nil {
			t.Fatal("the donor missed a's logout or rename")
		}
		if v, _ := delta.Attr[int](d.m.Find(s.ID()), "k"); v != 2 {
			t.Fatalf("the donor holds k=%d, want 2", v)
		}
		if j.m.Ready() {
			t.Error("j is ready while a member it lists has not listed it")
		}

		hidden.Store(nil) // a lists j now
		if err := j.m.WaitReady(ctx); err != nil {
			t.Fatal(err)
		}
		if v, _ := delta.Attr[int](j.m.Find(s.ID()), "k"); v != 2 {
			t.Errorf("j holds k=%d of a's session, want the acknowledged 2", v)
		}
		if j.m.Find(out.ID()) != nil {
			t.Error("j holds the session a invalidated")
		}
		if j.m.Find(oldID) != nil || j.m.Find(newID) == nil {
			t.Errorf("j holds the renamed session under its old id %v, under its new one %v",
				j.m.Find(oldID) != nil, j.m.Find(newID) != nil)
		}
		if v, _ := delta.Attr[int](j.m.Find(untouched.ID()), "k"); v != 1 {
			t.Errorf("j holds k=%d of the untouched session, want 1", v)
		}
		synctest.Wait() // a's goroutine counts after its last send
		if st := j.m.Stats(); st.TransferAttempts != 1 || st.SessionsTransferred != 4 || st.CatchUps != 1 {
			t.Errorf("attempts %d, transferred %d, caught up with %d: want the donor's 4 sessions in 1 attempt, then a",
				st.TransferAttempts, st.SessionsTransferred, st.CatchUps)
		}
		// docs/failover.md: the copies a catch-up's answers added or replaced count in
		// SessionsRefreshed: the changed session and the renamed one.
		if n := j.m.Stats().SessionsRefreshed; n != 2 {
			t.Errorf("SessionsRefreshed %d after the catch-up, want 2 (the changed session, the renamed one)", n)
		}
		if served := a.m.Stats().SessionsServed; served != 4 {
			t.Errorf("a sent %d entries to catch j up, want 4 (the changed and the renamed session, the records of "+
				"the logout and of the old id)", served)
		}
	})
}

// TestJoinerCatchesUpOverTCP is TestJoinerCatchesUpWithAMemberThatListsItLate over TCP
// (transport/nio) with static memberships: a lists j only when the test adds it, and
// refuses j's requests until then (its channel answers FAIL_ACK); its answer to the
// catch-up precedes its ACK on another connection.
func TestJoinerCatchesUpOverTCP(t *testing.T) {
	ctx := context.Background()
	dch, dms := startTCPChannel(t)
	ach, ams := startTCPChannel(t)
	if err := dms.Add(context.Background(), ach.LocalMember()); err != nil {
		t.Fatal(err)
	}
	if err := ams.Add(context.Background(), dch.LocalMember()); err != nil {
		t.Fatal(err)
	}
	cfg := delta.Config{Replication: delta.ReplicateAcked, SkipStateTransfer: true}
	cfg.JvmRoute = "d"
	d := startJoiner(t, dch, delta.ClusterConfig{}, cfg)
	cfg.JvmRoute = "a"
	a := startJoiner(t, ach, delta.ClusterConfig{}, cfg)
	s, err := a.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Set("k", 1); err != nil {
		t.Fatal(err)
	}
	if err := a.Replicate(ctx, s); err != nil {
		t.Fatal(err)
	}

	jch, jms := startTCPChannel(t)
	if err := jms.Add(context.Background(), dch.LocalMember()); err != nil { // the donor first
		t.Fatal(err)
	}
	if err := jms.Add(context.Background(), ach.LocalMember()); err != nil {
		t.Fatal(err)
	}
	if err := dms.Add(context.Background(), jch.LocalMember()); err != nil {
		t.Fatal(err)
	}
	j := startJoiner(t, jch, delta.ClusterConfig{}, delta.Config{JvmRoute: "j", Replication: delta.ReplicateAcked,
		MemberWait: time.Minute})
	testutil.EventuallyTrue(t, 10*time.Second, "the donor served j", func() bool { return d.Stats().SessionsServed == 1 })

	if err := s.Set("k", 2); err != nil {
		t.Fatal(err)
	}
	if err := a.Replicate(ctx, s); err != nil {
		t.Fatalf("a's change was not acknowledged: %v", err)
	}
	if err := ams.Add(context.Background(), jch.LocalMember()); err != nil {
		t.Fatal(err)
	}
	if err := j.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	if v, _ := delta.Attr[int](j.Find(s.ID()), "k"); v != 2 {
		t.Errorf("j holds k=%d of a's session, want the acknowledged 2", v)
	}
	if n := j.Stats().CatchUps; n != 1 {
		t.Errorf("j caught up with %d members, want 1", n)
	}
}

// A member that runs no session manager refuses a catch-up's request (FAIL_ACK) as one
// that does not list the joiner yet does: the two look alike, so the joiner asks it again
// every second until MemberWait, counted from its start, is over, and is ready then,
// with its donor's sessions and without counting it as caught up with.
func TestCatchUpAsksAMemberWithoutSessionsUntilMemberWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := channeltest.NewNetwork()
		d := startReady(t, nw, delta.Config{JvmRoute: "d"})
		ids := fill(t, d, 3)
		_, _, kv := newKVChannel(t, nw)
		start := time.Now()
		j := startNode(t, nw, delta.Config{JvmRoute: "j", MemberWait: 3 * time.Second})
		if err := j.m.WaitReady(context.Background()); err != nil {
			t.Fatal(err)
		}
		if waited := time.Since(start); waited != 3*time.Second {
			t.Errorf("ready after %v, want MemberWait (3s)", waited)
		}
		checkAll(t, j, ids)
		if st := j.m.Stats(); st.TransferDonor == "" || st.CatchUps != 0 || kv.foreign.Load() != 4 {
			t.Errorf("donor %q, caught up with %d, the kv node refused %d requests (want 4: at 0, 1, 2 and 3 s)",
				st.TransferDonor, st.CatchUps, kv.foreign.Load())
		}
	})
}
