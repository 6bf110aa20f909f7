package delta_test

import (
	"context"
	"testing"

	"github.com/gotribes/tribes/session/delta"
)

// TestLaterLoginWinsOverAFailedOne: hi (whose origin wins ties) logs ann in and sets x;
// its delta (version 2) fails, not delivered, and its changes are put back. lo then sets
// w (version 2) and, in a later request, logs pat in and sets x (version 3): a change
// made after hi's, which reaches hi. As for attribute x, lo's later login applies on hi
// and hi's failed one is dropped; hi's next request sends nothing of it, and both nodes
// end with lo's login. (hi skipped lo's login as a change of its own not sent yet, and
// its next delta gave ann to both nodes, while x was lo's.)
func TestLaterLoginWinsOverAFailedOne(t *testing.T) {
	ctx := context.Background()
	lo, _, hi, hiCh := twoCtl(t, delta.ReplicateAcked)
	s, id := startedSession(t, lo)
	sh := hi.Find(id)
	if err := firstErr(sh.Set("x", "hi"), sh.SetPrincipal(&delta.Principal{Name: "ann"})); err != nil {
		t.Fatal(err)
	}
	if err := replicateHeldToFail(hi, hiCh, sh, false)(); err == nil {
		t.Fatal("hi's send did not fail")
	}
	if err := firstErr(s.Set("w", "lo"), lo.Replicate(ctx, s)); err != nil {
		t.Fatal(err) // version 2
	}
	if err := firstErr(s.Set("x", "lo"), s.SetPrincipal(&delta.Principal{Name: "pat"}), lo.Replicate(ctx, s)); err != nil {
		t.Fatal(err) // version 3, after hi's failed change
	}
	want := "w=lo x=lo principal=pat"
	if got := attrsAndPrincipal(hi, id); got != want {
		t.Errorf("hi, after lo's later delta, has %q; want %q", got, want)
	}
	if err := hi.Replicate(ctx, sh); err != nil { // hi's next request ends
		t.Fatal(err)
	}
	for _, m := range []*delta.Manager{lo, hi} {
		if got := attrsAndPrincipal(m, id); got != want {
			t.Errorf("%s, after hi's next request, has %q; want %q", m.JvmRoute(), got, want)
		}
	}
}
