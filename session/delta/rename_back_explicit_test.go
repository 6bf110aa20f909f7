package delta_test

import (
	"context"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/sessionhttp"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/session/delta"
)

// TestExplicitRenameBackMissedForgottenByTheRenamer: TestRenameBackMissedForgottenByTheRenamer
// with ChangeSessionID to explicit ids of another base, not a binder's route change: a
// renames S.a to T.a and, with c cut off and a's record of the rename away forgotten
// (c keeps its own), back to S.a. The session keeps no list of the ids such renames
// left (a login's generated id would put one in every session's), so the explicit id
// raises the version itself; before, c after its refresh held no copy under any route.
func TestExplicitRenameBackMissedForgottenByTheRenamer(t *testing.T) {
	ctx := context.Background()
	nw, a, b, c := three(t, delta.Config{Replication: delta.ReplicateAcked, ClusterSize: 3})
	startedAlone(t, a)
	s := create(t, a, "k", "v1")
	id := s.ID()
	other := sessionhttp.WithRoute("0123456789ABCDEF0123456789ABCDEF", "a")
	if _, err := a.m.ChangeSessionID(ctx, s, other); err != nil {
		t.Fatal(err)
	}
	testutil.EventuallyTrue(t, 10*time.Second, "b and c hold the renamed copy", func() bool {
		return b.m.Find(other) != nil && c.m.Find(other) != nil
	})
	delta.ForgetRenamedFrom(a.m, id) // a's record of the rename away is gone, c's kept
	refreshes := c.m.Stats().QuorumRefreshes
	nw.Isolate(c.tn, a.tn, b.tn) // c misses the rename back
	testutil.EventuallyTrue(t, 10*time.Second, "a and b serving after probing c", func() bool {
		return a.m.Serving() == nil && b.m.Serving() == nil
	})
	if _, err := a.m.ChangeSessionID(ctx, s, id); err != nil {
		t.Fatalf("the rename back: %v", err)
	}
	nw.Heal(c.tn, a.tn)
	nw.Heal(c.tn, b.tn)
	testutil.EventuallyTrue(t, 10*time.Second, "c's refresh", func() bool {
		return c.m.Stats().QuorumRefreshes > refreshes && c.m.Refusing() == nil
	})
	if h := holding(c, id); h != id+" k=v1" || c.m.Find(other) != nil {
		t.Errorf("c after its refresh holds %s (and under %s: %v), want %s k=v1 alone", h, other, c.m.Find(other) != nil, id)
	}
	// a may have refreshed too once the links came back (a view change under load).
	testutil.EventuallyTrue(t, 10*time.Second, "a serving", func() bool { return a.m.Serving() == nil && a.m.Refusing() == nil })
	if err := s.Set("k", "v2"); err != nil {
		t.Fatal(err)
	}
	if err := a.m.Replicate(ctx, s); err != nil {
		t.Fatalf("a's change after the healing: %v", err)
	}
	if h := holding(c, id); h != id+" k=v2" {
		t.Errorf("c after a's acknowledged change holds %s, want %s k=v2", h, id)
	}
}

// TestWhichRenamesRaiseTheVersion: with BinaryCodec a login's rename to a generated id,
// and a change of route to one the session never had, raise no version; a rename to an
// explicit id of another base raises it by one, and the member that applies it takes
// the raised version; so does a rename back to a route the session had. A rename back
// to an id whose record of the rename away this node holds raises only if no change
// since went above the record (raiseAbove); without the record, an explicit id raises.
func TestWhichRenamesRaiseTheVersion(t *testing.T) {
	ctx := context.Background()
	nw := channeltest.NewNetwork()
	a := startReady(t, nw, delta.Config{JvmRoute: "a", Replication: delta.ReplicateAcked})
	b := startReady(t, nw, delta.Config{JvmRoute: "b", Replication: delta.ReplicateAcked})
	if err := a.ch.WaitForMembers(ctx, 1); err != nil {
		t.Fatal(err)
	}
	s := create(t, a, "k", "v1")
	base := sessionhttp.WithRoute(s.ID(), "")
	first := s.ID()
	other := sessionhttp.WithRoute("0123456789ABCDEF0123456789ABCDEF", "a")
	for _, step := range []struct {
		what   string
		to     string
		forget string // the record of the rename away from it dropped first
		raise  bool
	}{
		{"a generated id", "", "", false},
		{"an explicit id of another base", other, "", true},
		{"a route never had", sessionhttp.WithRoute(other, "x"), "", false},
		{"the route left", other, "", true},
		{"the first id, its record below the version", sessionhttp.WithRoute(base, "a"), "", false},
		{"another explicit id", sessionhttp.WithRoute("FEDCBA9876543210FEDCBA9876543210", "a"), "", true},
		{"the first id, its record forgotten", first, first, true},
	} {
		if step.forget != "" {
			delta.ForgetRenamedFrom(a.m, step.forget)
		}
		before := delta.VersionOf(s)
		id, err := a.m.ChangeSessionID(ctx, s, step.to)
		if err != nil {
			t.Fatalf("%s: %v", step.what, err)
		}
		want := before
		if step.raise {
			want++
		}
		if v := delta.VersionOf(s); v != want {
			t.Errorf("renamed to %s: version %d, want %d (was %d)", step.what, v, want, before)
		}
		if cp := b.m.Find(id); cp == nil || delta.VersionOf(cp) != delta.VersionOf(s) {
			t.Errorf("renamed to %s: b's copy %v, want one at a's version %d", step.what, cp != nil, delta.VersionOf(s))
		}
	}
}
