package delta_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/session/delta"
)

// The case TestRenamedBackKeptByRefresh leaves open: c holds the record of the rename
// away from a's route (S.a -> S.b, at the session's version) and is cut off while a's
// binder renames the session back to S.a at that same version. Back, c refreshes: it
// must end with the live session's copy under S.a alone, with its value, apply the next
// acknowledged change to it, and serve it. Before the rename back raised the version, c
// held no copy under any route and served none (200 k=<nil>).
func TestRenameBackMissedKeptByRefresh(t *testing.T) { renameBackMissed(t, false) }

// TestRenameBackMissedForgottenByTheRenamer: the same when a, renaming the session back,
// no longer holds its record of the rename away (its own is kept twice the max inactive
// interval, c's, merged from a member's, an hour): a cannot tell that its rename goes
// back, and raises the version all the same.
func TestRenameBackMissedForgottenByTheRenamer(t *testing.T) { renameBackMissed(t, true) }

// renameBackMissed runs the case above; forget drops a's record of the rename away
// before c is cut off.
func renameBackMissed(t *testing.T, forget bool) {
	nw, a, b, c := three(t, delta.Config{Replication: delta.ReplicateAcked, ClusterSize: 3})
	startedAlone(t, a)
	s := create(t, a, "k", "v1")
	id := s.ID()
	if w := get(readK(t, b), "/", s.ID()); w.Code != http.StatusOK || w.Body.String() != "k=v1" {
		t.Fatalf("read on b: %d %q", w.Code, w.Body.String())
	}
	away := s.ID()
	testutil.EventuallyTrue(t, 10*time.Second, "c holds the renamed copy", func() bool { return c.m.Find(away) != nil })
	if forget {
		delta.ForgetRenamedFrom(a.m, id) // a's record of the rename away is gone, c's kept
	}
	refreshes := c.m.Stats().QuorumRefreshes
	nw.Isolate(c.tn, a.tn, b.tn) // c misses the rename back
	testutil.EventuallyTrue(t, 10*time.Second, "a and b serving after probing c", func() bool {
		return a.m.Serving() == nil && b.m.Serving() == nil
	})
	if w := get(readK(t, a), "/", s.ID()); w.Code != http.StatusOK || w.Body.String() != "k=v1" {
		t.Fatalf("read on a: %d %q", w.Code, w.Body.String())
	}
	if s.ID() != id {
		t.Fatalf("the session is %s, want %s (renamed back)", s.ID(), id)
	}
	nw.Heal(c.tn, a.tn)
	nw.Heal(c.tn, b.tn)
	testutil.EventuallyTrue(t, 10*time.Second, "c's refresh", func() bool {
		return c.m.Stats().QuorumRefreshes > refreshes && c.m.Refusing() == nil
	})
	if h := holding(c, id); h != id+" k=v1" {
		t.Errorf("c after its refresh holds %s, want %s k=v1 alone", h, id)
	}
	// The next change, acknowledged, is c's copy's too. a may have refreshed too once
	// the links came back (a view change under load), as
	// TestExplicitRenameBackMissedForgottenByTheRenamer waits for: wait for it to serve.
	testutil.EventuallyTrue(t, 10*time.Second, "a serving again", func() bool { return a.m.Serving() == nil && a.m.Refusing() == nil })
	if err := s.Set("k", "v2"); err != nil {
		t.Fatal(err)
	}
	if err := a.m.Replicate(context.Background(), s); err != nil {
		t.Fatalf("a's change after the healing: %v", err)
	}
	if h := holding(c, id); h != id+" k=v2" {
		t.Errorf("c after a's acknowledged change holds %s, want %s k=v2", h, id)
	}
	testutil.Eventually(t, 10*time.Second, func() error {
		if w := get(readK(t, c), "/", s.ID()); w.Code != http.StatusOK || w.Body.String() != "k=v2" {
			return fmt.Errorf("c: %d %q, want k=v2 (c holds %s)", w.Code, w.Body.String(), holding(c, id))
		}
		return nil
	})
}
