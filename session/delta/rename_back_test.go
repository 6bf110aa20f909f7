package delta_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/session/delta"
)

// A binder renames a session from route to route without a change between the renames,
// so it can be renamed away from an id and back at one version (a client's requests go to
// b, then back to a). The records of the rename away (removals.go) then named the live
// session's id at its version: a node refreshing its copies (here c, back from a
// partition) took no member's copy of it ("that member missed the removal") and removed
// its own on the members' records, and served no session for the client's cookie for as
// long as it kept them (TestPartialPartition's failure after the healing: high's binder
// renamed the session back to its route, then a catch-up's answer carried the record of
// the rename away from that route during the cut). The session is kept and served.
func TestRenamedBackKeptByRefresh(t *testing.T) {
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
	refreshes := c.m.Stats().QuorumRefreshes
	nw.Isolate(c.tn, a.tn, b.tn) // c loses the quorum
	nw.Heal(c.tn, a.tn)
	nw.Heal(c.tn, b.tn)
	testutil.EventuallyTrue(t, 10*time.Second, "c's refresh", func() bool {
		return c.m.Stats().QuorumRefreshes > refreshes && c.m.Refusing() == nil
	})
	if got := c.m.Find(id); got == nil {
		t.Fatalf("c lost %s in its refresh: %+v", id, c.m.Stats())
	} else if v, _ := got.Get("k"); v != "v1" {
		t.Errorf("c's copy: k = %v, want v1", v)
	}
	if st := c.m.Stats(); st.RefreshRemovals != 0 {
		t.Errorf("c's refresh removed %d copies, want 0", st.RefreshRemovals)
	}
	testutil.Eventually(t, 10*time.Second, func() error {
		if w := get(readK(t, c), "/", s.ID()); w.Code != http.StatusOK || w.Body.String() != "k=v1" {
			return fmt.Errorf("c: %d %q, want k=v1", w.Code, w.Body.String())
		}
		return nil
	})
}
