package delta_test

import (
	"context"
	"testing"
	"time"

	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/session/delta"
)

// TestQueuedResendOfARenameBackCarriesItsVersion: with asynchronous replication a
// request queues the renames to send again before its delta and does not wait for them
// (queueUnsentRename). a renames the session back to S.a, raising its version over its
// record of the rename away (S.a -> S.b), and the rename's send fails to b; the next
// asynchronous request queues the resend, which must carry the raised version as a
// synchronous one does (TestResentRenameBackCarriesItsVersion): b's copy under S.a ends
// at a's version, above every record of the rename away, and a's next change applies to
// it. It pins the current behaviour (a queued resend is built as a synchronous one,
// unsentRenameMessages): with the queued renames' Version cleared, b stayed one below.
func TestQueuedResendOfARenameBackCarriesItsVersion(t *testing.T) {
	ctx := context.Background()
	r := renameAwayByB(t, delta.Config{Replication: delta.ReplicateAsync})
	a, b, c, d, s, id, away := r.a, r.b, r.c, r.d, r.s, r.id, r.away
	before := delta.VersionOf(s)
	bk := b.ch.LocalMember().Key()
	d.drop.Store(&bk) // the rename back's send fails to b
	if _, err := a.m.ChangeSessionID(ctx, s, id); err == nil {
		t.Fatal("the rename back reached b")
	}
	d.drop.Store(nil)
	raised := delta.VersionOf(s)
	if raised <= before {
		t.Fatalf("the rename back left the version at %d (before %d): not raised", raised, before)
	}
	if b.m.Find(away) == nil || b.m.Find(id) != nil {
		t.Fatalf("b took the rename back that was to fail: it holds %s", holding(b, id))
	}
	testutil.EventuallyTrue(t, 10*time.Second, "c takes the rename back", func() bool { return c.m.Find(id) != nil })
	// An asynchronous request's replication queues the resend and returns.
	if err := delta.ReplicateNoWait(a.m, s); err != nil {
		t.Fatal(err)
	}
	delta.DrainAsync(a.m)
	testutil.EventuallyTrue(t, 10*time.Second, "b takes the queued resend", func() bool {
		return holding(b, id) == id+" k=v1"
	})
	for _, n := range []struct {
		name string
		n    *node
	}{{"b", b}, {"c", c}} {
		if v := delta.VersionOf(n.n.m.Find(id)); v != raised {
			t.Errorf("%s holds the session renamed back at version %d, want %d (the raise)", n.name, v, raised)
		}
	}
	// The next change, queued after the resend, applies on both.
	if err := s.Set("k", "v2"); err != nil {
		t.Fatal(err)
	}
	if err := delta.ReplicateNoWait(a.m, s); err != nil {
		t.Fatal(err)
	}
	delta.DrainAsync(a.m)
	testutil.EventuallyTrue(t, 10*time.Second, "a's change on b and c", func() bool {
		return holding(b, id) == id+" k=v2" && holding(c, id) == id+" k=v2"
	})
	if n := a.m.Stats().Sent[delta.EventChangeSessionID]; n != 1 {
		t.Errorf("a sent %d id changes, want 1 (the rename back's failed send is not counted, its resend is)", n)
	}
}
