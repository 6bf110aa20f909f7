package delta_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/session/delta"
)

// A session the joiner j renamed to its route (a client's failover to j) while a member a
// did not list j yet (a refused the rename) comes in a's late catch-up answer under its
// old id, newer by version (a's acknowledged changes j missed). j keeps it under the
// new id, the client's, with a's changes merged (it renamed its copy back to the old id
// before, and the client's id found no session on j), and sends the rename again.
func TestLateCatchUpKeepsTheJoinersRename(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		nw := channeltest.NewNetwork()
		startReady(t, nw, delta.Config{JvmRoute: "d", Replication: delta.ReplicateAcked})
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
		for k := 2; k <= 3; k++ {
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
		js := j.m.Find(s.ID())
		if js == nil {
			t.Fatal("j lacks a's session")
		}
		base, _, _ := strings.Cut(s.ID(), ".")
		id, err := j.m.ChangeSessionID(ctx, js, base+".j")
		if err == nil {
			t.Fatal("j's rename was acknowledged by a, which does not list j")
		}
		time.Sleep(10 * time.Second)
		hidden.Store(nil)
		time.Sleep(2 * time.Second)
		synctest.Wait()
		c := j.m.Find(id)
		if c == nil {
			t.Fatalf("j lost the session under its new id %s (it holds %v under the old one)", id, j.m.Find(s.ID()) != nil)
		}
		if v, _ := delta.Attr[int](c, "k"); v != 3 {
			t.Errorf("j holds k=%d, want the acknowledged 3", v)
		}
		if j.m.Find(s.ID()) != nil {
			t.Errorf("j holds the session under its old id %s too", s.ID())
		}
		// The next request on j sends the rename again: a, which lists j now, takes it.
		if err := c.Set("j", 1); err != nil {
			t.Fatal(err)
		}
		if err := j.m.Replicate(ctx, c); err != nil {
			t.Fatalf("j's request once a lists it: %v", err)
		}
		if ac := a.m.Find(id); ac == nil {
			t.Errorf("a lacks the session under j's id %s", id)
		} else if k, _ := delta.Attr[int](ac, "k"); k != 3 {
			t.Errorf("a holds k=%d under j's id, want 3", k)
		}
	})
}
