package delta

import (
	"context"
	"slices"
	"testing"
)

// TestMergeTakesTheMembersLeftIDs: a refresh's or a catch-up's answer (AskLeft,
// AskRecentLeft) whose copy is not loaded over the one held (not newer: merged by the
// stamps; or the held copy renamed to its id, a rename this node missed) brings the ids
// binder's renames took the session away from on that member, as a load does, beside
// the copy's own: else a node that missed the rename from R.b to R.c (it held the session
// under R.a) and forgot its record of it would raise nothing on a rename back to R.b.
// Before, only a copy loaded took them.
func TestMergeTakesTheMembersLeftIDs(t *testing.T) {
	for _, late := range []bool{false, true} {
		_, m := startLone(t, Config{})
		ctx := context.Background()
		m.mergeSessions(ctx, []SessionState{{ID: "S.b", Version: 2, MaxInactive: 60, stamped: true},
			{ID: "R.a", Version: 2, MaxInactive: 60, stamped: true}}, false)
		held, renamed := m.st.get("S.b"), m.st.get("R.a")
		if held == nil || renamed == nil {
			t.Fatal("the copies were not added")
		}
		m.mergeSessions(ctx, []SessionState{{ID: "S.b", Version: 2, MaxInactive: 60, stamped: true, left: []string{"S.a"}},
			{ID: "R.c", Version: 2, MaxInactive: 60, stamped: true, left: []string{"R.a", "R.b"}}}, late)
		if !held.heldBefore("S.a") {
			t.Errorf("late %v: the copy merged keeps left ids %q, want the member's S.a", late, held.e().left)
		}
		if m.st.get("R.c") != renamed {
			t.Fatalf("late %v: R.a was not renamed to R.c", late)
		}
		if !slices.Equal(renamed.e().left, []string{"R.a", "R.b"}) {
			t.Errorf("late %v: the copy renamed keeps left ids %q, want [R.a R.b]", late, renamed.e().left)
		}
	}
}
