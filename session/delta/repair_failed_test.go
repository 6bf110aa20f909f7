package delta_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/session/delta"
)

// TestRepairDropsFailedChangesTheMemberMadeLater: a created X.a; j holds it too. While a
// is cut off from j (both reach p, a raw member), j renames it to X.j, sets w (version
// 2), then sets x and logs pat in (version 3); a's request sets x and y and logs ann in,
// and its delta fails (stamped (2, a), the changes put back; sent, it may have reached
// p, so it goes by its stamp: unsent.go). The link is back and j's next delta (version 4)
// reaches a, whose copy under the other route missed versions 2 and 3: a repair loads
// j's copy over a's. As in a refresh, a's failed changes of x and of the principal lose
// to j's later ones (they are dropped), and its failed change of y, which j did not
// change, stays and goes out with a's next delta: both nodes end with x and the
// principal j's, y a's.
func TestRepairDropsFailedChangesTheMemberMadeLater(t *testing.T) {
	ctx := context.Background()
	nw := channeltest.NewNetwork()
	// a asks j nothing once j is back (catchup_back.go): the repair of j's next delta is what is tested
	aTn, a := startCtlNode(t, nw, delta.Config{JvmRoute: "a", Replication: delta.ReplicateAcked,
		CatchUpWindow: -1})
	j := startReady(t, nw, delta.Config{JvmRoute: "j", Replication: delta.ReplicateAcked})
	newRaw(t, nw, nil) // p: j's and a's member while they are cut off from each other
	if err := a.WaitForMembers(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if err := j.ch.WaitForMembers(ctx, 2); err != nil {
		t.Fatal(err)
	}
	sa, old := startedSession(t, a.m)
	newID := old[:len(old)-1] + "j"
	nw.Partition(aTn, j.tn)
	testutil.EventuallyTrue(t, 10*time.Second, "a and j apart", func() bool {
		return len(a.Members()) == 1 && len(j.ch.Members()) == 1
	})
	sj := j.m.Find(old)
	if _, err := j.m.ChangeSessionID(ctx, sj, newID); err != nil {
		t.Fatal(err)
	}
	if err := firstErr(sj.Set("w", "j"), j.m.Replicate(ctx, sj)); err != nil {
		t.Fatal(err) // version 2, to p only
	}
	if err := firstErr(sj.Set("x", "j"), sj.SetPrincipal(&delta.Principal{Name: "pat"}), j.m.Replicate(ctx, sj)); err != nil {
		t.Fatal(err) // version 3
	}
	if err := firstErr(sa.Set("x", "a"), sa.Set("y", "a"), sa.SetPrincipal(&delta.Principal{Name: "ann"})); err != nil {
		t.Fatal(err)
	}
	if err := replicateHeldToFail(a.m, a.ctlChannel, sa, false)(); err == nil {
		t.Fatal("a's send did not fail")
	}

	nw.Heal(aTn, j.tn)
	if err := j.ch.WaitForMembers(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if err := a.WaitForMembers(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if err := firstErr(sj.Set("w", "j2"), j.m.Replicate(ctx, sj)); err != nil {
		t.Fatal(err) // version 4
	}
	testutil.EventuallyTrue(t, 10*time.Second, "a's repair", func() bool {
		return a.m.Stats().TransferRepairs > 0 && a.m.Find(newID) != nil && delta.RepairIdle(a.m)
	})
	want := "w=j2 x=j y=a principal=pat"
	if got := attrsAndPrincipal(a.m, newID); got != want {
		t.Errorf("a, repaired, has %q; want %q (j's changes of version 3 win over a's failed ones)", got, want)
	}
	if err := a.m.Replicate(ctx, sa); err != nil { // a's next request ends
		t.Fatal(err)
	}
	for _, n := range []*node{{m: a.m}, j} {
		if got := attrsAndPrincipal(n.m, newID); got != want {
			t.Errorf("%s, after a's next delta, has %q; want %q", n.m.JvmRoute(), got, want)
		}
	}
}

// attrsAndPrincipal is attrs with the principal's name.
func attrsAndPrincipal(m *delta.Manager, id string) string {
	s := m.Find(id)
	if s == nil {
		return "(none)"
	}
	p := "(none)"
	if pr := s.Principal(); pr != nil {
		p = pr.Name
	}
	return fmt.Sprintf("%sprincipal=%s", attrs(m, id), p)
}
