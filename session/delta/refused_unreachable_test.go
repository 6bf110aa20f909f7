package delta_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/session/delta"
)

// TestUnreachableChangeLosesToTheMajoritysDelta: as TestRefusedChangeLosesToTheMajoritysDelta,
// but c's view still lists a and b and its delta fails because neither can be connected
// to (ErrConnect for every member, with and without TolerateUnreachable: ErrNoQuorum
// then): the delta never left c, so nobody holds its change, and a's acknowledged change
// at its version must win on every node once c's next request ends. (c took its failed
// change for one that may have been sent, skipped a's delta, whose stamp orders before
// its own, and its next delta gave its change to every node.)
func TestUnreachableChangeLosesToTheMajoritysDelta(t *testing.T) {
	for _, tolerate := range []bool{false, true} {
		t.Run(fmt.Sprintf("tolerate=%v", tolerate), func(t *testing.T) {
			ctx := context.Background()
			_, a, b, c := threeByOrigin(t, func(_ int, cfg *delta.Config) { cfg.TolerateUnreachable = tolerate })
			s, err := a.m.Create(ctx)
			if err != nil {
				t.Fatal(err)
			}
			id := s.ID()
			if err := firstErr(s.Set("x", "start"), a.m.Replicate(ctx, s)); err != nil {
				t.Fatal(err)
			}
			sc := c.m.Find(id)
			c.ch.unreachable.Store(true)
			if err := firstErr(sc.Set("x", "c"), sc.SetPrincipal(&delta.Principal{Name: "cal"})); err != nil {
				t.Fatal(err)
			}
			err = c.m.Replicate(ctx, sc)
			switch {
			case tolerate && !errors.Is(err, delta.ErrNoQuorum):
				t.Fatalf("c's change, no member reachable, tolerated: %v, want ErrNoQuorum", err)
			case !tolerate && !errors.Is(err, channel.ErrConnect):
				t.Fatalf("c's change, no member reachable: %v, want ErrConnect", err)
			}
			if err := firstErr(s.Set("x", "a"), s.SetPrincipal(&delta.Principal{Name: "pat"}), a.m.Replicate(ctx, s)); err != nil {
				t.Fatalf("a's change: %v", err)
			}
			want := "x=a principal=pat"
			if got := attrsAndPrincipal(c.m, id); got != want {
				t.Errorf("c, after a's delta, has %q; want %q", got, want)
			}
			c.ch.unreachable.Store(false)
			if err := c.m.Replicate(ctx, sc); err != nil { // c's next request ends
				t.Fatal(err)
			}
			for _, n := range []*viewNode{a, b, c} {
				if got := attrsAndPrincipal(n.m, id); got != want {
					t.Errorf("%s, after c's next request, has %q; want %q", n.m.JvmRoute(), got, want)
				}
			}
		})
	}
}
