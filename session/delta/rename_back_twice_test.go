package delta_test

import (
	"context"
	"testing"

	"github.com/gotribes/tribes/internal/sessionhttp"
	"github.com/gotribes/tribes/session/delta"
)

// TestResentRenameBackMissedTwiceEndsRight pins what a member that missed two rename
// backs gets: a renames the session back to S.a twice (S.b -> S.a raising the version
// from v to v+1, S.a -> S.c, S.c -> S.a raising it to v+2) while every rename's send
// fails to b. The resend takes b from S.b straight to S.a with the last raise alone
// (v+2), which b's copy at v does not take (it would hide a change of v+1 from it:
// raisedTo), so b holds the session under S.a with its value at v. a's next change
// (v+3) names the id b holds: b applies it at once (a jumped version asks for a repair
// only for a copy held under another route, lacks) and ends at a's version and value.
// Until that change, b's copy is below a's record of the second rename away (v+1): a
// node that missed the second rename back too and refreshed from b alone would take no
// copy (two members missing it; not shown here).
func TestResentRenameBackMissedTwiceEndsRight(t *testing.T) {
	ctx := context.Background()
	r := renameAwayByB(t, delta.Config{Replication: delta.ReplicateAcked})
	a, b, c, d, s, id, away := r.a, r.b, r.c, r.d, r.s, r.id, r.away
	bk := b.ch.LocalMember().Key()
	d.drop.Store(&bk)
	for _, to := range []string{id, sessionhttp.WithRoute(id, "c"), id} {
		if _, err := a.m.ChangeSessionID(ctx, s, to); err == nil {
			t.Fatalf("the rename to %s reached b", to)
		}
	}
	d.drop.Store(nil)
	if b.m.Find(away) == nil {
		t.Fatalf("b took a rename that was to fail: it holds %s", holding(b, id))
	}
	if err := a.m.Replicate(ctx, s); err != nil { // sends the rename again
		t.Fatalf("a's resend: %v", err)
	}
	for _, n := range []struct {
		name string
		n    *node
	}{{"b", b}, {"c", c}} {
		if h := holding(n.n, id); h != id+" k=v1" {
			t.Fatalf("%s after the resend holds %s, want %s k=v1 alone", n.name, h, id)
		}
	}
	v := delta.VersionOf(b.m.Find(id))
	if va, vc := delta.VersionOf(s), delta.VersionOf(c.m.Find(id)); vc != va || v != va-2 {
		t.Fatalf("after the resend: a at version %d, c at %d, b at %d; want c at a's, b two below (it missed both raises)", va, vc, v)
	}
	repairs := b.m.Stats().TransferRepairs
	if err := s.Set("k", "v2"); err != nil {
		t.Fatal(err)
	}
	if err := a.m.Replicate(ctx, s); err != nil { // acknowledged: applied everywhere
		t.Fatalf("a's change: %v", err)
	}
	for _, n := range []struct {
		name string
		n    *node
	}{{"b", b}, {"c", c}} {
		if h := holding(n.n, id); h != id+" k=v2" {
			t.Errorf("%s after a's change holds %s, want %s k=v2", n.name, h, id)
		} else if vn, va := delta.VersionOf(n.n.m.Find(id)), delta.VersionOf(s); vn != va {
			t.Errorf("%s after a's change is at version %d, a at %d", n.name, vn, va)
		}
	}
	if n := b.m.Stats().TransferRepairs; n != repairs {
		t.Errorf("b ran %d repairs for a change under the id it holds", n-repairs)
	}
}
