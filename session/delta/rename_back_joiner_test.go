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

// TestRenameBackByAJoinerMissedKeptByRefresh: the case of
// TestRenameBackMissedForgottenByTheRenamer where the node renaming the session back got
// it by a state transfer after the rename away. b's read renames S.a to S.b; a dies, a
// node with a's route joins and takes S.b from b or c, and no longer holds the record of
// the rename away (its donor's may have expired while c keeps one). c is cut off while
// the joiner's binder renames the session back to S.a: the version must go above c's
// record of the rename away all the same, so the joiner needs the ids the session left
// from its donor (with BinaryCodec, AskLeft). Before, the transfer carried none, the
// rename back raised nothing, and c after its refresh held no copy under any route.
func TestRenameBackByAJoinerMissedKeptByRefresh(t *testing.T) {
	cfg := delta.Config{Replication: delta.ReplicateAcked, ClusterSize: 3}
	nw, a, b, c := three(t, cfg)
	startedAlone(t, a)
	s := create(t, a, "k", "v1")
	id := s.ID()
	if w := get(readK(t, b), "/", id); w.Code != http.StatusOK || w.Body.String() != "k=v1" {
		t.Fatalf("read on b: %d %q", w.Code, w.Body.String())
	}
	away := s.ID()
	if away == id {
		t.Fatalf("b's read did not rename the session to b's route: %s", away)
	}
	testutil.EventuallyTrue(t, 10*time.Second, "c holds the renamed copy", func() bool { return c.m.Find(away) != nil })
	nw.Kill(a.tn)
	testutil.EventuallyTrue(t, 10*time.Second, "b and c without a", func() bool {
		return len(b.ch.Members()) == 1 && len(c.ch.Members()) == 1
	})
	j := startReady(t, nw, withRoute(cfg, "a"))
	if h := holding(j, id); h != away+" k=v1" {
		t.Fatalf("the joiner holds %s after its transfer, want %s k=v1", h, away)
	}
	delta.ForgetRenamedFrom(j.m, id) // the joiner has no record of the rename away; c keeps its own
	refreshes := c.m.Stats().QuorumRefreshes
	nw.Isolate(c.tn, j.tn, b.tn) // c misses the rename back
	testutil.EventuallyTrue(t, 10*time.Second, "j and b serving after probing c", func() bool {
		return j.m.Serving() == nil && b.m.Serving() == nil
	})
	if w := get(readK(t, j), "/", away); w.Code != http.StatusOK || w.Body.String() != "k=v1" {
		t.Fatalf("read on the joiner: %d %q", w.Code, w.Body.String())
	}
	js := j.m.Find(id)
	if js == nil {
		t.Fatalf("the joiner's binder did not rename the session back to %s: it holds %s", id, holding(j, id))
	}
	nw.Heal(c.tn, j.tn)
	nw.Heal(c.tn, b.tn)
	testutil.EventuallyTrue(t, 10*time.Second, "c's refresh", func() bool {
		return c.m.Stats().QuorumRefreshes > refreshes && c.m.Refusing() == nil
	})
	if h := holding(c, id); h != id+" k=v1" {
		t.Errorf("c after its refresh holds %s, want %s k=v1 alone", h, id)
	}
	// The next change, acknowledged, is c's copy's too, and c serves it.
	if err := js.Set("k", "v2"); err != nil {
		t.Fatal(err)
	}
	if err := j.m.Replicate(context.Background(), js); err != nil {
		t.Fatalf("the joiner's change after the healing: %v", err)
	}
	testutil.Eventually(t, 10*time.Second, func() error {
		if w := get(readK(t, c), "/", id); w.Code != http.StatusOK || w.Body.String() != "k=v2" {
			return fmt.Errorf("c: %d %q, want k=v2 (c holds %s)", w.Code, w.Body.String(), holding(c, id))
		}
		return nil
	})
}
