package delta_test

import (
	"context"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/session/delta"
)

// A partition heals after a third node left for good: r was cut off, and meanwhile c
// changed one session and renamed another (a took both), then c left. Back in view, r
// asks a for what changed since it left; a sent no message about either session (c did),
// and its answer held only what it sent itself: r kept the session's old value, and the
// renamed session went from r (the rename's record removed its copy under the old id,
// the session under its new id was not in the answer). A donor's answer now holds every
// session it sent or took a change of since the time asked for: r holds c's value, and
// the renamed session under its new id only.
func TestMemberBackGetsTheChangesOfANodeThatLeftMeanwhile(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		nw := channeltest.NewNetwork()
		cfg := delta.Config{Replication: delta.ReplicateAcked}
		a := startReady(t, nw, withRoute(cfg, "a"))
		c := startReady(t, nw, withRoute(cfg, "c"))
		r := startReady(t, nw, withRoute(cfg, "r"))
		changed := create(t, c, "k", 1)
		renamed := create(t, c, "k", 1)
		oldID := renamed.ID()
		time.Sleep(2 * delta.DefaultCatchUpWindow) // the joiners' windows are over
		synctest.Wait()

		nw.Isolate(r.tn, a.tn, c.tn)
		synctest.Wait()
		if err := changed.Set("k", 2); err != nil {
			t.Fatal(err)
		}
		if err := c.m.Replicate(ctx, changed); err != nil {
			t.Fatalf("c's change was not acknowledged by a: %v", err)
		}
		newID, err := c.m.ChangeSessionID(ctx, renamed, "")
		if err != nil {
			t.Fatalf("c's rename was not acknowledged by a: %v", err)
		}
		synctest.Wait()
		if k, _ := delta.Attr[int](a.m.Find(changed.ID()), "k"); k != 2 || a.m.Find(newID) == nil {
			t.Fatalf("a holds k=%d and the renamed session under %s: %v; want c's change and rename", k,
				newID, a.m.Find(newID) != nil)
		}
		nw.Kill(c.tn) // c leaves for good
		synctest.Wait()
		time.Sleep(10 * time.Second)

		nw.Heal(r.tn, a.tn)
		synctest.Wait()
		time.Sleep(5 * time.Second)
		synctest.Wait()
		if s := r.m.Find(changed.ID()); s == nil {
			t.Errorf("r lacks the session c changed")
		} else if k, _ := delta.Attr[int](s, "k"); k != 2 {
			t.Errorf("r holds k=%d of the session c changed while r was cut off, want 2", k)
		}
		if r.m.Find(oldID) != nil {
			t.Errorf("r still holds the session c renamed under its old id %s", oldID)
		}
		if r.m.Find(newID) == nil {
			t.Errorf("r lacks the session c renamed under its new id %s", newID)
		}
	})
}

// TestMemberBackWithQuorumGetsTheChangesOfANodeThatLeftMeanwhile is the same with
// ClusterSize, where no node asks a member back (catchup_back.go): r, cut off from the
// four others, loses the quorum, and once it has it again refreshes from every member
// (refresh.go), which brings it c's change and rename through a's copies. (Five nodes, so
// that c's leaving keeps the quorum of three.)
func TestMemberBackWithQuorumGetsTheChangesOfANodeThatLeftMeanwhile(t *testing.T) {
	ctx := context.Background()
	nw := channeltest.NewNetwork()
	cfg := delta.Config{Replication: delta.ReplicateAcked, ClusterSize: 5}
	var ns []*node
	for _, route := range []string{"a", "b", "c", "d", "r"} {
		ns = append(ns, startReady(t, nw, withRoute(cfg, route)))
	}
	a, c, r := ns[0], ns[2], ns[4]
	serving := func(ns ...*node) bool {
		return !slices.ContainsFunc(ns, func(n *node) bool { return n.m.Serving() != nil })
	}
	testutil.EventuallyTrue(t, 10*time.Second, "the five nodes serving", func() bool { return serving(ns...) })
	changed := create(t, c, "k", 1)
	renamed := create(t, c, "k", 1)
	oldID := renamed.ID()

	refreshes := r.m.Stats().QuorumRefreshes
	nw.Isolate(r.tn, a.tn, ns[1].tn, c.tn, ns[3].tn)
	testutil.EventuallyTrue(t, 10*time.Second, "the four serving after r left", func() bool { return serving(ns[:4]...) })
	if err := changed.Set("k", 2); err != nil {
		t.Fatal(err)
	}
	if err := c.m.Replicate(ctx, changed); err != nil {
		t.Fatalf("c's change was not acknowledged: %v", err)
	}
	newID, err := c.m.ChangeSessionID(ctx, renamed, "")
	if err != nil {
		t.Fatalf("c's rename was not acknowledged: %v", err)
	}
	testutil.EventuallyTrue(t, 10*time.Second, "a holding c's change and rename", func() bool {
		k, _ := delta.Attr[int](a.m.Find(changed.ID()), "k")
		return k == 2 && a.m.Find(newID) != nil
	})
	nw.Kill(c.tn) // c leaves for good
	testutil.EventuallyTrue(t, 10*time.Second, "a, b and d serving after c left", func() bool {
		return serving(a, ns[1], ns[3])
	})

	for _, n := range []*node{a, ns[1], ns[3]} {
		nw.Heal(r.tn, n.tn)
	}
	testutil.EventuallyTrue(t, 10*time.Second, "r's refresh", func() bool {
		return r.m.Stats().QuorumRefreshes > refreshes && r.m.Serving() == nil
	})
	if s := r.m.Find(changed.ID()); s == nil {
		t.Errorf("r lacks the session c changed")
	} else if k, _ := delta.Attr[int](s, "k"); k != 2 {
		t.Errorf("r holds k=%d of the session c changed while r was cut off, want 2", k)
	}
	if r.m.Find(oldID) != nil {
		t.Errorf("r still holds the session c renamed under its old id %s", oldID)
	}
	if r.m.Find(newID) == nil {
		t.Errorf("r lacks the session c renamed under its new id %s", newID)
	}
}
