package delta_test

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gotribes/tribes/session/delta"
)

func TestExpiryEverywhere(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		_, a, b, c := three(t, delta.Config{}) // 30 min timeout, sweep every 60 s
		s := create(t, a, "k", "v")
		id := s.ID()
		for _, n := range []*node{a, b, c} {
			n.rec.take()
		}
		time.Sleep(29 * time.Minute)
		synctest.Wait()
		for name, n := range map[string]*node{"A": a, "B": b, "C": c} {
			if n.m.Find(id) == nil {
				t.Fatalf("%s lost the session before its timeout", name)
			}
		}
		time.Sleep(2 * time.Minute)
		synctest.Wait()
		for name, n := range map[string]*node{"A": a, "B": b, "C": c} {
			if n.m.Len() != 0 {
				t.Errorf("%s still holds %d sessions", name, n.m.Len())
			}
		}
		wantEvents(t, "A", a.rec.take(), "destroyed local expired=true", "removed local k=v")
		wantEvents(t, "B", b.rec.take(), "destroyed rep expired=false", "removed rep k=v")
		wantEvents(t, "C", c.rec.take(), "destroyed rep expired=false", "removed rep k=v")
		if st := a.m.Stats(); st.SessionsExpired != 1 || st.Sent[delta.EventExpired] != 1 {
			t.Errorf("A stats: expired %d, EXPIRED sent %d", st.SessionsExpired, st.Sent[delta.EventExpired])
		}
	})
}

func TestRequestKeepsSessionAlive(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		_, a, b, _ := three(t, delta.Config{MaxInactiveInterval: 10 * time.Minute, ExpireInterval: time.Minute})
		s := create(t, a, "k", "v")
		for range 5 { // a request every 8 minutes for 40 minutes
			time.Sleep(8 * time.Minute)
			s.Access()
			_ = s.Set("k", time.Now().String())
			if err := a.m.Replicate(ctx, s); err != nil {
				t.Fatal(err)
			}
		}
		synctest.Wait()
		if a.m.Find(s.ID()) == nil || b.m.Find(s.ID()) == nil {
			t.Fatal("an active session expired")
		}
	})
}

func TestCopiesExpireAfterTwiceTheTimeoutWhenPrimaryDies(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw, a, b, c := three(t, delta.Config{MaxInactiveInterval: 10 * time.Minute})
		s := create(t, a, "k", "v")
		nw.Kill(a.tn)
		time.Sleep(19 * time.Minute)
		synctest.Wait()
		if b.m.Len() != 1 || c.m.Len() != 1 {
			t.Fatalf("copies gone before twice the timeout: B %d C %d", b.m.Len(), c.m.Len())
		}
		if b.m.Find(s.ID()) == nil {
			t.Error("a copy idle for less than twice its timeout is not found (failover would lose it)")
		}
		time.Sleep(2 * time.Minute)
		synctest.Wait()
		if b.m.Len() != 0 || c.m.Len() != 0 {
			t.Errorf("copies left: B %d C %d", b.m.Len(), c.m.Len())
		}
		if b.m.Stats().Sent[delta.EventExpired] != 0 {
			t.Error("a copy's expiry was broadcast")
		}
	})
}

func TestManualSweep(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		_, a, b, _ := three(t, delta.Config{ExpireInterval: -1, MaxInactiveInterval: time.Minute})
		s := create(t, a)
		time.Sleep(90 * time.Second)
		if a.m.Len() != 1 {
			t.Fatal("expired without a sweep")
		}
		if a.m.Find(s.ID()) != nil || b.m.Find(s.ID()) == nil {
			t.Error("Find: a primary idle past its timeout is found, or a copy within twice it is not")
		}
		if n := a.m.ProcessExpires(context.Background()); n != 1 || a.m.Len() != 0 || b.m.Len() != 0 {
			t.Errorf("ProcessExpires = %d; left A %d B %d", n, a.m.Len(), b.m.Len())
		}
	})
}

func TestStopExpiresOnlyWhenAsked(t *testing.T) {
	ctx := context.Background()
	for _, expire := range []bool{false, true} {
		_, a, b, _ := three(t, delta.Config{ExpireSessionsOnShutdown: expire})
		create(t, a)
		create(t, a)
		a.rec.take()
		if err := a.m.Stop(ctx); err != nil {
			t.Fatal(err)
		}
		want := 2
		if expire {
			want = 0
		}
		if b.m.Len() != want {
			t.Errorf("ExpireSessionsOnShutdown=%v: B holds %d sessions, want %d", expire, b.m.Len(), want)
		}
		wantEvents(t, "A", a.rec.take(), "destroyed local expired=false", "destroyed local expired=false")
		if err := a.m.Stop(ctx); err != nil {
			t.Error("second Stop:", err)
		}
		if _, err := a.m.Create(ctx); err == nil {
			t.Error("Create on a stopped manager")
		}
	}
}

// An invalidation whose EVT_SESSION_EXPIRED did not reach a member (here b loses every
// message meanwhile) leaves b's copy, and a retry of the logout finds no session on a to
// remove: a's sweep sends the expiry again once b receives, and b's copy goes.
func TestUnsentExpirySentAgain(t *testing.T) {
	ctx := context.Background()
	_, a, b, c := three(t, delta.Config{Replication: delta.ReplicateAcked})
	s := create(t, a, "user", "alice")
	id := s.ID()
	if b.m.Find(id) == nil || c.m.Find(id) == nil {
		t.Fatal("the session did not reach b and c")
	}
	b.tn.SetMaxMessageSize(1)
	if err := a.m.Invalidate(ctx, s); err == nil {
		t.Fatal("the invalidation reached b, which loses every message")
	}
	if b.m.Find(id) == nil || c.m.Find(id) != nil {
		t.Fatalf("after the failed invalidation: b holds it %v (want true), c %v (want false)",
			b.m.Find(id) != nil, c.m.Find(id) != nil)
	}
	a.m.ProcessExpires(ctx) // b still loses it: kept for the next sweep
	if b.m.Find(id) == nil {
		t.Fatal("b lost its copy while it loses every message")
	}
	b.tn.SetMaxMessageSize(0)
	sent := a.m.Stats().Sent[delta.EventExpired]
	a.m.ProcessExpires(ctx)
	if b.m.Find(id) != nil {
		t.Fatal("b still serves the session invalidated on a")
	}
	a.m.ProcessExpires(ctx)
	if n := a.m.Stats().Sent[delta.EventExpired] - sent; n != 1 {
		t.Errorf("%d EVT_SESSION_EXPIRED sent by two sweeps, want 1 (once delivered, not again)", n)
	}
}
