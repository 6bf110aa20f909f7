package delta_test

import (
	"context"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/sessionhttp"
	"github.com/gotribes/tribes/session/delta"
)

// TestRenameBackByANodeThatCaughtUpMissedKeptByCatchUp: the case of
// TestRenameBackByAJoinerMissedKeptByRefresh where the node renaming the session back took
// it from a catch-up's answer after a short absence (a member back: no quorum), not from a
// state transfer. While c is away, a makes the session under a's route, renames it to c's
// route and back (the route alone changes, as a binder's renames); c, back, takes it from
// a's and b's answers (AskRecent) and has forgotten the record of the rename away from
// c's route, which a keeps. a is away in turn while c renames the session back to c's
// route: the version must go above a's record all the same, so c needs the ids the
// session left from the answer it took the session from (with BinaryCodec, the catch-up's
// AskRecentLeft). Before, a catch-up's answer carried none, the rename back raised
// nothing, and a, back, held no copy under any route: its record kept c's copy out, and
// c's record of the id renamed away from removed a's.
func TestRenameBackByANodeThatCaughtUpMissedKeptByCatchUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		nw := channeltest.NewNetwork()
		cfg := delta.Config{Replication: delta.ReplicateAcked}
		a := startReady(t, nw, withRoute(cfg, "a"))
		b := startReady(t, nw, withRoute(cfg, "b"))
		c := startReady(t, nw, withRoute(cfg, "c"))
		time.Sleep(2 * delta.DefaultCatchUpWindow) // the joiners' windows are over
		synctest.Wait()
		back := func(n *node) { // n comes back from an absence and catches up
			for _, o := range []*node{a, b, c} {
				if o != n {
					nw.Heal(n.tn, o.tn)
				}
			}
			synctest.Wait()
			time.Sleep(5 * time.Second)
			synctest.Wait()
		}

		nw.Isolate(c.tn, a.tn, b.tn) // c's short absence
		synctest.Wait()
		s := create(t, a, "k", "v1")
		onA := s.ID()
		onC := sessionhttp.WithRoute(onA, "c")
		for _, to := range []string{onC, onA} { // a's renames, acknowledged by b
			if _, err := a.m.ChangeSessionID(ctx, s, to); err != nil {
				t.Fatalf("a's rename to %s: %v", to, err)
			}
		}
		time.Sleep(10 * time.Second)
		back(c)
		if h := holding(c, onA); h != onA+" k=v1" {
			t.Fatalf("c holds %s after its catch-up, want %s k=v1", h, onA)
		}
		delta.ForgetRenamedFrom(c.m, onC) // c has forgotten the record of the rename away; a keeps its own

		nw.Isolate(a.tn, b.tn, c.tn) // a misses the rename back
		synctest.Wait()
		cs := c.m.Find(onA)
		if _, err := c.m.ChangeSessionID(ctx, cs, onC); err != nil {
			t.Fatalf("c's rename back to %s: %v", onC, err)
		}
		time.Sleep(10 * time.Second)
		back(a)
		if h := holding(a, onA); h != onC+" k=v1" {
			t.Errorf("a after its catch-up holds %s, want %s k=v1 alone (c's copy at version %d)", h, onC, delta.VersionOf(cs))
		}
		// The next change, acknowledged, is a's copy's too.
		if err := cs.Set("k", "v2"); err != nil {
			t.Fatal(err)
		}
		if err := c.m.Replicate(ctx, cs); err != nil {
			t.Fatalf("c's change after a is back: %v", err)
		}
		synctest.Wait()
		for _, n := range []*node{a, b} {
			if got := holding(n, onA); got != onC+" k=v2" {
				t.Errorf("%s holds %s, want %s", n.ch.LocalMember().Addr(), got, fmt.Sprintf("%s k=v2", onC))
			}
		}
	})
}
