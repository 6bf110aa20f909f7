package delta_test

import (
	"context"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/session/delta"
)

// A member r that left the view and came back (a partition, or its membership timed out
// while it kept running) past its CatchUpWindow was sent nothing of what the others did
// meanwhile: a session a renamed (a login) stayed on r under its old id, the new id
// (the client's) finding no session there, and a change a made stayed missing until the
// session's next delta. Each node now asks a member that is added again for the sessions
// it sent a message about since it left, with its records of removals and renames, as a
// joiner asks in its window: r holds the session under its new id only, with a's change,
// and a session r changed while cut off is on a and b with r's change.
func TestMemberBackAfterLeavingGetsTheRenamesMadeMeanwhile(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		nw := channeltest.NewNetwork()
		cfg := delta.Config{Replication: delta.ReplicateAcked}
		a := startReady(t, nw, withRoute(cfg, "a"))
		b := startReady(t, nw, withRoute(cfg, "b"))
		r := startReady(t, nw, withRoute(cfg, "r"))
		login := create(t, a, "k", 1)
		twice := create(t, a, "k", 1)
		onR := create(t, r, "k", 1)
		oldLogin, oldTwice := login.ID(), twice.ID()
		time.Sleep(2 * delta.DefaultCatchUpWindow) // the joiners' windows are over
		synctest.Wait()

		nw.Isolate(r.tn, a.tn, b.tn)
		synctest.Wait()
		newLogin, err := a.m.ChangeSessionID(ctx, login, "")
		if err != nil {
			t.Fatalf("a's rename was not acknowledged by b: %v", err)
		}
		if err := login.Set("k", 2); err != nil {
			t.Fatal(err)
		}
		if err := a.m.Replicate(ctx, login); err != nil {
			t.Fatal(err)
		}
		var mid string
		for i := range 2 {
			id, err := b.m.ChangeSessionID(ctx, b.m.Find(twice.ID()), "")
			if err != nil {
				t.Fatal(err)
			}
			if i == 0 {
				mid = id
			}
		}
		if err := r.m.Find(onR.ID()).Set("k", 5); err != nil {
			t.Fatal(err)
		}
		if err := r.m.Replicate(ctx, r.m.Find(onR.ID())); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Second)

		nw.Heal(r.tn, a.tn)
		nw.Heal(r.tn, b.tn)
		synctest.Wait()
		time.Sleep(5 * time.Second)
		synctest.Wait()
		if r.m.Find(oldLogin) != nil {
			t.Errorf("r still holds a's session under its old id %s", oldLogin)
		}
		if c := r.m.Find(newLogin); c == nil {
			t.Errorf("r lacks a's session under its new id %s", newLogin)
		} else if k, _ := delta.Attr[int](c, "k"); k != 2 {
			t.Errorf("r holds k=%d under the new id, want a's 2", k)
		}
		cur := b.m.Find(twice.ID())
		if cur == nil {
			t.Fatal("b lost the session it renamed twice")
		}
		for _, id := range []string{oldTwice, mid} {
			if r.m.Find(id) != nil {
				t.Errorf("r holds the session renamed twice under the earlier id %s", id)
			}
		}
		if r.m.Find(cur.ID()) == nil {
			t.Errorf("r lacks the session renamed twice under its id %s", cur.ID())
		}
		for _, n := range []*node{a, b} {
			if k, _ := delta.Attr[int](n.m.Find(onR.ID()), "k"); k != 5 {
				t.Errorf("%s holds k=%d of the session r changed while cut off, want 5", n.ch.LocalMember().Addr(), k)
			}
		}
	})
}

// withRoute returns cfg with JvmRoute route.
func withRoute(cfg delta.Config, route string) delta.Config {
	cfg.JvmRoute = route
	return cfg
}

// A member that leaves and comes back over and over (a flapping link) is asked no more
// often than once a second, as in a joiner's window: r, back four times within 600 ms,
// asks a twice (at once, then a second after its first answer), and holds a's last
// rename made while it was away.
func TestMemberBackOverAndOverAskedOnceASecond(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		nw := channeltest.NewNetwork()
		cfg := delta.Config{Replication: delta.ReplicateAcked}
		a := startReady(t, nw, withRoute(cfg, "a"))
		rtn, rch := newChannel(t, nw)
		asked := map[int32]*atomic.Int32{a.tn.Port(): {}}
		rm := startJoiner(t, countCatchUps{Channel: rch, asked: asked}, delta.ClusterConfig{}, withRoute(cfg, "r"))
		if err := rm.WaitReady(ctx); err != nil {
			t.Fatal(err)
		}
		s := create(t, a, "k", 1)
		time.Sleep(2 * delta.DefaultCatchUpWindow)
		synctest.Wait()
		before := asked[a.tn.Port()].Load()
		for range 3 { // back, gone and back again every 200 ms
			nw.Partition(rtn, a.tn)
			synctest.Wait()
			if _, err := a.m.ChangeSessionID(ctx, s, ""); err != nil {
				t.Fatal(err)
			}
			nw.Heal(rtn, a.tn)
			synctest.Wait()
			time.Sleep(200 * time.Millisecond)
		}
		nw.Partition(rtn, a.tn)
		synctest.Wait()
		if _, err := a.m.ChangeSessionID(ctx, s, ""); err != nil {
			t.Fatal(err)
		}
		nw.Heal(rtn, a.tn)
		synctest.Wait()
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if n := asked[a.tn.Port()].Load() - before; n != 2 {
			t.Errorf("r asked a %d times over its four returns within 600 ms, want 2 (at once, then a second after)", n)
		}
		if rm.Find(s.ID()) == nil {
			t.Errorf("r lacks the session under a's last id %s", s.ID())
		}
		if n := rm.Len(); n != 1 {
			t.Errorf("r holds %d sessions, want 1 (under a's last id only)", n)
		}
	})
}
