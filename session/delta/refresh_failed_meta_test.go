package delta_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/session/delta"
)

// TestRefreshMajorityLoginWinsOverARefusedOne: c, cut off from a and b (ClusterSize 3),
// logs a user in on a session (principal, auth type, note n, interval, the listener
// "start" detached) and sets note m; its delta is refused (ErrNoQuorum), its changes stay
// pending. Meanwhile a logs another user in on that session (each of those parts changed
// at the version c's refused delta took, or later), but leaves note m alone. Healed, c
// refreshes: as for an attribute, the majority's acknowledged change of each part wins
// over c's refused one, on c and, once c's next request ends, on every node; c's change
// of note m, which the majority did not change, is kept and sent. (c kept its refused
// login over the majority's, and its next delta gave it to every node.)
func TestRefreshMajorityLoginWinsOverARefusedOne(t *testing.T) {
	ctx := context.Background()
	nw, a, b, c := three(t, delta.Config{Replication: delta.ReplicateAcked, ClusterSize: 3})
	startedAlone(t, a)
	s := create(t, a, "k", "v1")
	if err := firstErr(s.SetNote("n", "start"), s.AttachListener("start"), a.m.Replicate(ctx, s)); err != nil {
		t.Fatal(err)
	}
	id := s.ID()

	refreshes := c.m.Stats().QuorumRefreshes
	nw.Isolate(c.tn, a.tn, b.tn)
	testutil.EventuallyTrue(t, 10*time.Second, "a and b serving after probing c", func() bool {
		return a.m.Serving() == nil && b.m.Serving() == nil
	})
	sc := c.m.Find(id)
	if err := firstErr(sc.SetPrincipal(&delta.Principal{Name: "cal"}), sc.SetAuthType("BASIC"), sc.SetNote("n", "c"),
		sc.SetNote("m", "c"), sc.SetMaxInactiveInterval(10*time.Minute), sc.DetachListener("start")); err != nil {
		t.Fatal(err)
	}
	if err := c.m.Replicate(ctx, sc); !errors.Is(err, delta.ErrNoQuorum) {
		t.Fatalf("c's login, cut off: %v, want ErrNoQuorum", err)
	}
	// The majority's login; the listener detached and attached again: a change of it.
	if err := firstErr(s.SetPrincipal(&delta.Principal{Name: "pat"}), s.SetAuthType("FORM"), s.SetNote("n", "a"),
		s.SetMaxInactiveInterval(20*time.Minute), s.DetachListener("start"), s.AttachListener("start")); err != nil {
		t.Fatal(err)
	}
	if err := a.m.Replicate(ctx, s); err != nil {
		t.Fatalf("a's login with b: %v", err)
	}

	nw.Heal(c.tn, a.tn)
	nw.Heal(c.tn, b.tn)
	testutil.EventuallyTrue(t, 10*time.Second, "c's refresh", func() bool {
		return c.m.Stats().QuorumRefreshes > refreshes && c.m.Serving() == nil
	})
	want := "x= interval=20m0s principal=pat auth=FORM note=a listeners=[start] m=c"
	if got := metaAndNoteM(c.m, id); got != want {
		t.Errorf("c, refreshed, has %q; want the majority's login, %q", got, want)
	}
	if err := c.m.Replicate(ctx, c.m.Find(id)); err != nil { // c's next request ends
		t.Fatal(err)
	}
	for _, n := range []*node{a, b, c} {
		if got := metaAndNoteM(n.m, id); got != want {
			t.Errorf("%s, after c's next delta, has %q; want %q", n.m.JvmRoute(), got, want)
		}
	}
}

// metaAndNoteM is metaAndListeners with note m.
func metaAndNoteM(m *delta.Manager, id string) string {
	s := m.Find(id)
	if s == nil {
		return "(none)"
	}
	note, _ := s.Note("m")
	return metaAndListeners(m, id) + " m=" + note
}
