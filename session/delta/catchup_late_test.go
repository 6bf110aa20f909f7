package delta_test

import (
	"context"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/session/delta"
)

// startLate starts a ready manager "a" on a channel of nw whose view hides the member
// hidden names (lateView): a member whose membership lists a joiner late.
func startLate(t *testing.T, nw *channeltest.Network, hidden *atomic.Pointer[channel.MemberKey]) *node {
	t.Helper()
	ctx := context.Background()
	atn, ach := newChannel(t, nw)
	acl := newCluster(t, lateView{ach, hidden}, delta.ClusterConfig{})
	t.Cleanup(func() { _ = acl.Close(ctx) })
	am, err := acl.NewManager(delta.Config{Name: appName, JvmRoute: "a", Replication: delta.ReplicateAcked, MemberWait: -1})
	if err != nil {
		t.Fatal(err)
	}
	if err := am.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := am.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	return &node{tn: atn, ch: ach, cl: acl, m: am}
}

// A member a that lists the joiner j only after j's MemberWait is over refused j's
// catch-up until then, and j became ready without the change a made meanwhile (a's
// caller was told every member had it: a listed d and j's donor d had read the session
// for j already). j was ready for good: a change acknowledged before a listed it was on
// every member but j. j now asks such a member again every second for
// Config.CatchUpWindow after its start, and merges its answer once it lists j into the
// copies it serves by the stamps: a's copy, newer by version, does not replace j's, whose
// change made meanwhile (refused by a, pending) stays and goes out with the next request.
func TestJoinerCatchesUpWithAMemberListingItAfterMemberWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		nw := channeltest.NewNetwork()
		d := startReady(t, nw, delta.Config{JvmRoute: "d", Replication: delta.ReplicateAcked})
		var hidden atomic.Pointer[channel.MemberKey]
		a := startLate(t, nw, &hidden)
		s := create(t, a, "k", 1)
		time.Sleep(time.Minute)

		jtn, jch := newChannel(t, nw)
		k := jtn.Member().Key()
		hidden.Store(&k)
		j := startManager(t, jtn, jch, delta.Config{JvmRoute: "j", Replication: delta.ReplicateAcked,
			MemberWait: 3 * time.Second})
		synctest.Wait()
		for k := 2; k <= 3; k++ { // a's copy ends newer by version than j's will be
			if err := s.Set("k", k); err != nil {
				t.Fatal(err)
			}
			if err := a.m.Replicate(ctx, s); err != nil {
				t.Fatalf("a's change was not acknowledged: %v", err)
			}
		}
		if err := j.m.WaitReady(ctx); err != nil { // MemberWait is over: ready without a
			t.Fatal(err)
		}
		// A request on j changes the session: a refuses the delta, so it stays pending.
		js := j.m.Find(s.ID())
		if js == nil {
			t.Fatal("j lacks a's session")
		}
		if err := js.Set("j", 1); err != nil {
			t.Fatal(err)
		}
		if err := j.m.Replicate(ctx, js); err == nil {
			t.Fatal("j's change was acknowledged by a, which does not list j")
		}
		time.Sleep(10 * time.Second) // a lists j 13 s after j started
		hidden.Store(nil)
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if v, _ := delta.Attr[int](j.m.Find(s.ID()), "k"); v != 3 {
			t.Errorf("j holds k=%d of a's session, want the acknowledged 3", v)
		}
		if v, _ := delta.Attr[int](j.m.Find(s.ID()), "j"); v != 1 {
			t.Errorf("j holds j=%d, want its own change 1 (pending)", v)
		}
		if n := j.m.Stats().CatchUps; n != 1 {
			t.Errorf("j caught up with %d members, want 1 (a)", n)
		}
		if err := j.m.Replicate(ctx, js); err != nil {
			t.Fatalf("j's pending change was not acknowledged once a lists j: %v", err)
		}
		for name, n := range map[string]*node{"a": a, "d": d, "j": j} {
			c := n.m.Find(s.ID())
			k, _ := delta.Attr[int](c, "k")
			jv, _ := delta.Attr[int](c, "j")
			if k != 3 || jv != 1 {
				t.Errorf("%s holds k=%d j=%d, want 3 and 1", name, k, jv)
			}
		}
	})
}

// The asking again is bounded: a member that runs no session manager (it refuses every
// request, as one that does not list the joiner does) is asked once a second until
// Config.CatchUpWindow after the joiner's start, then no more.
func TestLateCatchUpAsksForCatchUpWindowOnly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := channeltest.NewNetwork()
		d := startReady(t, nw, delta.Config{JvmRoute: "d"})
		ids := fill(t, d, 2)
		_, _, kv := newKVChannel(t, nw)
		j := startNode(t, nw, delta.Config{JvmRoute: "j", MemberWait: 3 * time.Second, CatchUpWindow: 10 * time.Second})
		if err := j.m.WaitReady(context.Background()); err != nil {
			t.Fatal(err)
		}
		checkAll(t, j, ids)
		time.Sleep(time.Minute)
		synctest.Wait()
		// At 0, 1, 2 and 3 s before j is ready, then at 4 to 9 s.
		if n := kv.foreign.Load(); n != 10 {
			t.Errorf("the kv node refused %d catch-up requests, want 10 (one a second for 10 s)", n)
		}
		if n := j.m.Stats().CatchUps; n != 0 {
			t.Errorf("j caught up with %d members, want 0", n)
		}
	})
}

// A member a that the joiner j lists only after its catch-up (the two did not hear each
// other: a partition between them only) sent its acknowledged changes to the members it
// listed, j's donor d among them, after d had read the session for j: j was ready
// without them, and its catch-up had not asked a, which it did not list. j now asks a
// member added within Config.CatchUpWindow after its start for what it sent about since
// then, and merges it into the copies it serves by the stamps: a's copy, newer by
// version, does not replace j's, and the change j made meanwhile to another attribute
// of the session stays.
func TestJoinerCatchesUpWithAMemberItListsAfterItsTransfer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		nw := channeltest.NewNetwork()
		d := startReady(t, nw, delta.Config{JvmRoute: "d", Replication: delta.ReplicateAcked})
		a := startReady(t, nw, delta.Config{JvmRoute: "a", Replication: delta.ReplicateAcked})
		s := create(t, a, "k", 1)
		time.Sleep(time.Minute)

		jtn, jch := newChannel(t, nw)
		nw.Partition(jtn, a.tn)
		j := startManager(t, jtn, jch, delta.Config{JvmRoute: "j", Replication: delta.ReplicateAcked,
			MemberWait: 3 * time.Second})
		synctest.Wait()
		for k := 2; k <= 3; k++ { // a's copy ends newer by version than j's will be
			if err := s.Set("k", k); err != nil {
				t.Fatal(err)
			}
			if err := a.m.Replicate(ctx, s); err != nil {
				t.Fatalf("a's change was not acknowledged: %v", err)
			}
		}
		if err := j.m.WaitReady(ctx); err != nil {
			t.Fatal(err)
		}
		// j serves the session meanwhile: its change goes to d (and to a once listed).
		js := j.m.Find(s.ID())
		if js == nil {
			t.Fatal("j lacks a's session")
		}
		if err := js.Set("j", 1); err != nil {
			t.Fatal(err)
		}
		if err := j.m.Replicate(ctx, js); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Second)
		nw.Heal(jtn, a.tn)
		synctest.Wait()
		if v, _ := delta.Attr[int](j.m.Find(s.ID()), "k"); v != 3 {
			t.Errorf("j holds k=%d of a's session, want the acknowledged 3", v)
		}
		if v, _ := delta.Attr[int](j.m.Find(s.ID()), "j"); v != 1 {
			t.Errorf("j holds j=%d, want its own change 1", v)
		}
		if v, _ := delta.Attr[int](d.m.Find(s.ID()), "j"); v != 1 {
			t.Errorf("d holds j=%d, want j's change 1", v)
		}
		if n := j.m.Stats().CatchUps; n != 1 {
			t.Errorf("j caught up with %d members, want 1 (a)", n)
		}
	})
}

// A member added within Config.CatchUpWindow after the joiner's start is asked at once,
// then (it refuses: it runs no session manager) every second until the window ends; one
// added after it is not asked.
func TestLateCatchUpAsksAddedMembersWithinCatchUpWindow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := channeltest.NewNetwork()
		startReady(t, nw, delta.Config{JvmRoute: "d"})
		j := startNode(t, nw, delta.Config{JvmRoute: "j", MemberWait: -1, CatchUpWindow: 10 * time.Second})
		if err := j.m.WaitReady(context.Background()); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Second)
		_, _, within := newKVChannel(t, nw)
		time.Sleep(10 * time.Second)
		_, _, after := newKVChannel(t, nw)
		time.Sleep(time.Minute)
		synctest.Wait()
		if n := within.foreign.Load(); n != 5 {
			t.Errorf("the member added 5 s after j's start refused %d requests, want 5 (at 5 to 9 s)", n)
		}
		if n := after.foreign.Load(); n != 0 {
			t.Errorf("the member added after the window refused %d requests, want none", n)
		}
	})
}

// A member that flaps (it leaves and comes back over and over, refusing each request) is
// asked at most once a second as one that stays: its coming back does not ask it again
// before askAgainAfter is over, so the joiner sends no request per addition. Back in
// view while still to ask, it is asked once the window is over as a running node asks a
// member back, once a second for CatchUpWindow.
func TestLateCatchUpAsksAFlappingMemberOnceASecond(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := channeltest.NewNetwork()
		startReady(t, nw, delta.Config{JvmRoute: "d"})
		j := startNode(t, nw, delta.Config{JvmRoute: "j", MemberWait: -1, CatchUpWindow: 10 * time.Second})
		if err := j.m.WaitReady(context.Background()); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Second)
		kvtn, _, kv := newKVChannel(t, nw)
		synctest.Wait()
		for range 40 { // 4 s of a member leaving and coming back every 100 ms
			time.Sleep(50 * time.Millisecond)
			nw.Partition(j.tn, kvtn)
			synctest.Wait()
			time.Sleep(50 * time.Millisecond)
			nw.Heal(j.tn, kvtn)
			synctest.Wait()
		}
		time.Sleep(900 * time.Millisecond) // the window ends at 10 s
		synctest.Wait()
		within := kv.foreign.Load()
		if within < 4 || within > 5 {
			t.Errorf("the flapping member refused %d requests, want 4 or 5 (one a second from 5 to 9 s, while it is listed)", within)
		}
		time.Sleep(time.Minute)
		synctest.Wait()
		if n := kv.foreign.Load() - within; n < 9 || n > 11 {
			t.Errorf("the flapping member refused %d requests after the window, want 10 (about one a second for CatchUpWindow)", n)
		}
	})
}
