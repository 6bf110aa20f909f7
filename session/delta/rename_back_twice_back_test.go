package delta_test

import (
	"context"
	"testing"
	"time"

	"github.com/gotribes/tribes/internal/sessionhttp"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/session/delta"
)

// TestResentRenameBackMissedTwiceCatchUpFromTheOther pins the case
// TestResentRenameBackMissedTwiceEndsRight leaves unshown, without a quorum (a member
// back's catch-up, not a refresh): a renames the session back to S.a (raising v to
// v+1) and on to S.c while its renames' sends fail to b, c applying both; c is cut off
// before a renames it back to S.a again (v+2), and a's resend takes b straight to S.a at
// v (the last raise alone, which b's copy does not take). a dies; c comes back with b
// alone. Not lost: the two ask each other back, and both end with c's copy under S.c at
// v+1, k=v1 (b's S.a, below it, renamed to it); a's last rename back, which no living
// member took, is gone with a. The refresh of a node with a quorum is not shown here.
func TestResentRenameBackMissedTwiceCatchUpFromTheOther(t *testing.T) {
	ctx := context.Background()
	r := renameAwayByB(t, delta.Config{Replication: delta.ReplicateAcked})
	a, b, c, d, s, id := r.a, r.b, r.c, r.d, r.s, r.id
	bk := b.ch.LocalMember().Key()
	d.drop.Store(&bk)
	toC := sessionhttp.WithRoute(id, "c")
	for _, to := range []string{id, toC} {
		if _, err := a.m.ChangeSessionID(ctx, s, to); err == nil {
			t.Fatalf("the rename to %s reached b", to)
		}
	}
	testutil.EventuallyTrue(t, 10*time.Second, "c applies a's renames", func() bool { return c.m.Find(toC) != nil })
	nw := r.nw
	nw.Isolate(c.tn, a.tn, b.tn)
	testutil.EventuallyTrue(t, 10*time.Second, "a and b without c", func() bool {
		return len(a.ch.Members()) == 1 && len(b.ch.Members()) == 1 && len(c.ch.Members()) == 0
	})
	if _, err := a.m.ChangeSessionID(ctx, s, id); err == nil {
		t.Fatal("the second rename back reached b")
	}
	d.drop.Store(nil)
	if err := a.m.Replicate(ctx, s); err != nil { // sends the renames again
		t.Fatalf("a's resend: %v", err)
	}
	if h := holding(b, id); h != id+" k=v1" {
		t.Fatalf("b after the resend holds %s, want %s k=v1", h, id)
	}
	v := delta.VersionOf(b.m.Find(id))
	if va, vc := delta.VersionOf(s), delta.VersionOf(c.m.Find(toC)); va != v+2 || vc != v+1 {
		t.Fatalf("a at version %d, b at %d, c at %d; want b two below a (both raises missed), c one", va, v, vc)
	}
	nw.Kill(a.tn)
	testutil.EventuallyTrue(t, 10*time.Second, "b without a", func() bool { return len(b.ch.Members()) == 0 })
	nw.Heal(c.tn, b.tn)
	testutil.EventuallyTrue(t, 10*time.Second, "b and c list each other", func() bool {
		return len(b.ch.Members()) == 1 && len(c.ch.Members()) == 1
	})
	want := toC + " k=v1"
	testutil.EventuallyTrue(t, 10*time.Second, "b and c hold c's copy alone", func() bool {
		return holding(b, id) == want && holding(c, id) == want
	})
	for _, n := range []*node{b, c} {
		if got := delta.VersionOf(n.m.Find(toC)); got != v+1 {
			t.Errorf("%s holds %s at version %d, want %d", n.ch.LocalMember().Addr(), toC, got, v+1)
		}
	}
}
