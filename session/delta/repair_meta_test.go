package delta_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/session/delta"
)

// TestRepairKeepsPendingMetaChanges: as in TestRepairOverAPendingChange, a repair loads
// j's copy over a's, but a's request, not ended yet, changed the parts that are not
// attributes: the principal, the auth type, a note, the max inactive interval and a
// listener. They must stay what a holds, and go out: a's request then ends, and both
// nodes must hold a's values. (The repair kept only a's pending attribute changes: a
// showed j's principal, auth type, note, interval and listeners while its delta sent its
// own, and the two nodes ended different.)
func TestRepairKeepsPendingMetaChanges(t *testing.T) {
	ctx := context.Background()
	nw := channeltest.NewNetwork()
	// a asks j nothing once j is back (catchup_back.go): the repair of j's next delta is what is tested
	a := startReady(t, nw, delta.Config{JvmRoute: "a", Replication: delta.ReplicateAcked,
		CatchUpWindow: -1})
	j := startReady(t, nw, delta.Config{JvmRoute: "j", Replication: delta.ReplicateAcked})
	newRaw(t, nw, nil) // p: j's member while a is cut off from it
	if err := a.ch.WaitForMembers(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if err := j.ch.WaitForMembers(ctx, 2); err != nil {
		t.Fatal(err)
	}
	sa, old := startedSession(t, a.m)
	if err := firstErr(sa.SetNote("n", "start"), sa.AttachListener("start")); err != nil {
		t.Fatal(err)
	}
	if err := a.m.Replicate(ctx, sa); err != nil {
		t.Fatal(err)
	}
	newID := old[:len(old)-1] + "j"
	nw.Partition(a.tn, j.tn)
	testutil.EventuallyTrue(t, 10*time.Second, "a and j apart", func() bool {
		return len(a.ch.Members()) == 1 && len(j.ch.Members()) == 1
	})
	sj := j.m.Find(old)
	if _, err := j.m.ChangeSessionID(ctx, sj, newID); err != nil {
		t.Fatal(err)
	}
	_ = sj.Set("y", 1)
	if err := j.m.Replicate(ctx, sj); err != nil { // version 2, to p only
		t.Fatal(err)
	}
	// a's request, not ended yet: a login.
	if err := firstErr(sa.Set("x", "a"), sa.SetPrincipal(&delta.Principal{Name: "ann"}), sa.SetAuthType("FORM"),
		sa.SetNote("n", "a"), sa.SetMaxInactiveInterval(20*time.Minute), sa.AttachListener("audit"),
		sa.DetachListener("start")); err != nil {
		t.Fatal(err)
	}
	want := "x=a interval=20m0s principal=ann auth=FORM note=a listeners=[audit]"
	if got := metaAndListeners(a.m, old); got != want {
		t.Fatalf("a has %q before the repair, want %q", got, want)
	}
	nw.Heal(a.tn, j.tn)
	if err := j.ch.WaitForMembers(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if err := a.ch.WaitForMembers(ctx, 2); err != nil {
		t.Fatal(err)
	}
	_ = sj.Set("y", 2)
	if err := j.m.Replicate(ctx, sj); err != nil { // version 3
		t.Fatal(err)
	}
	testutil.EventuallyTrue(t, 10*time.Second, "a's repair", func() bool {
		return a.m.Stats().TransferRepairs > 0 && a.m.Find(newID) != nil && delta.RepairIdle(a.m)
	})
	if got := metaAndListeners(a.m, newID); got != want {
		t.Errorf("a has %q after the repair loaded j's copy over it, want its request's %q", got, want)
	}
	if err := a.m.Replicate(ctx, sa); err != nil { // a's request ends
		t.Fatal(err)
	}
	l, r := metaAndListeners(a.m, newID), metaAndListeners(j.m, newID)
	if l != want || r != want {
		t.Errorf("after a's delta a has %q, j %q; want both %q (a's changes not sent yet, which its delta sent)", l, r, want)
	}
}

// metaAndListeners is meta with the names of the listeners attached, sorted.
func metaAndListeners(m *delta.Manager, id string) string {
	s := m.Find(id)
	if s == nil {
		return "(none)"
	}
	names := delta.ListenerNames(s)
	slices.Sort(names)
	return fmt.Sprintf("%s listeners=%v", meta(m, id), names)
}
