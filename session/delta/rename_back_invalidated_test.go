package delta_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/session/delta"
)

// A session renamed away from an id and back (its record of the rename away marked
// renamed back, its version raised) and then invalidated while c was cut off: the
// removal covers every copy still, the renamed-back mark protecting none; c's refresh
// removes its copy (under the id renamed away to as well) and c serves no session for
// the cookie.
func TestRenamedBackThenInvalidatedRemovedByRefresh(t *testing.T) {
	nw, a, b, c := three(t, delta.Config{Replication: delta.ReplicateAcked, ClusterSize: 3})
	startedAlone(t, a)
	s := create(t, a, "k", "v1")
	id := s.ID()
	for _, n := range []*node{b, a} { // renamed to b's route, then back to a's
		if w := get(readK(t, n), "/", s.ID()); w.Code != http.StatusOK || w.Body.String() != "k=v1" {
			t.Fatalf("read on %s: %d %q", n.m.JvmRoute(), w.Code, w.Body.String())
		}
	}
	if s.ID() != id {
		t.Fatalf("the session is %s, want %s (renamed back)", s.ID(), id)
	}
	testutil.EventuallyTrue(t, 10*time.Second, "c holds the copy renamed back", func() bool { return c.m.Find(id) != nil })
	refreshes := c.m.Stats().QuorumRefreshes
	nw.Isolate(c.tn, a.tn, b.tn)
	testutil.EventuallyTrue(t, 10*time.Second, "a and b serving after probing c", func() bool {
		return a.m.Serving() == nil && b.m.Serving() == nil
	})
	if err := a.m.Invalidate(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	nw.Heal(c.tn, a.tn)
	nw.Heal(c.tn, b.tn)
	testutil.EventuallyTrue(t, 10*time.Second, "c's refresh", func() bool {
		return c.m.Stats().QuorumRefreshes > refreshes && c.m.Refusing() == nil
	})
	if h := holding(c, id); h != "no copy under any route" {
		t.Errorf("c after its refresh holds %s, want none (invalidated)", h)
	}
	if st := c.m.Stats(); st.RefreshRemovals != 1 {
		t.Errorf("c's refresh removed %d copies, want 1", st.RefreshRemovals)
	}
	for _, n := range []*node{a, b} {
		if h := holding(n, id); h != "no copy under any route" {
			t.Errorf("%s holds %s, want none (invalidated)", n.m.JvmRoute(), h)
		}
	}
}
