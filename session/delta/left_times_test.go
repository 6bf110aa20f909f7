package delta_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/session/delta"
)

// TestLeftIDsHeldAlikeWithTheirTimes: the node whose binder renames a session, a member
// that applies the renames, and a joiner that takes the session by a state transfer
// afterwards (asking for the times: leftAtAsk) hold the same left ids at the same times,
// the renames' own, so that their merges of each other's lists agree (mergeLeft).
func TestLeftIDsHeldAlikeWithTheirTimes(t *testing.T) {
	ctx := context.Background()
	nw := channeltest.NewNetwork()
	a := startReady(t, nw, withRoute(delta.Config{}, "a"))
	b := startReady(t, nw, withRoute(delta.Config{}, "b"))
	s := create(t, a, "k", "v")
	base := strings.TrimSuffix(s.ID(), ".a")
	for _, route := range []string{"x", "y"} { // as a binder's: the route alone changes
		if _, err := a.m.ChangeSessionID(ctx, s, base+"."+route); err != nil {
			t.Fatal(err)
		}
	}
	id := base + ".y"
	ids, at := delta.LeftOf(a.m, id)
	if want := []string{base + ".a", base + ".x"}; !slices.Equal(ids, want) || len(at) != 2 || at[0] > at[1] || at[0] < 1e12 {
		t.Fatalf("the renamer holds %q at %v, want %q at the renames' wall clock", ids, at, want)
	}
	same := func(n *delta.Manager) error {
		if gi, ga := delta.LeftOf(n, id); !slices.Equal(gi, ids) || !slices.Equal(ga, at) {
			return fmt.Errorf("%q at %v, want %q at %v", gi, ga, ids, at)
		}
		return nil
	}
	testutil.Eventually(t, 10*time.Second, func() error { return same(b.m) })
	j := startReady(t, nw, withRoute(delta.Config{}, "j"))
	if err := same(j.m); err != nil {
		t.Errorf("the joiner after its transfer: %v", err)
	}
}
