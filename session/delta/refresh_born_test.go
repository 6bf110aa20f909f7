package delta

import (
	"context"
	"testing"
)

// TestRefreshTakesSessionMadeAgainAtTheRemoval: a session made again under a removed id
// (CreateWithID) starts at the removal's version, so until its first delta a member's
// copy of it has exactly that version. A refresh on a node that lacked it took the copy
// for the earlier session's, which the removal's record covers, and left it out. The
// copy says what it was made again above (AskBorn): one made again at or above the
// record is taken, one that is not (a member that missed the removal) still is not.
func TestRefreshTakesSessionMadeAgainAtTheRemoval(t *testing.T) {
	_, m := startLone(t, Config{})
	const again, earlier = "made-again", "missed-removal"
	m.noteExpired(again, 7)
	m.noteExpired(earlier, 7)
	m.mergeSessions(context.Background(), []SessionState{
		{ID: again, Version: 7, born: 7, MaxInactive: 60, Notes: []NamedValue{{Name: "n", Value: []byte("new")}}},
		{ID: earlier, Version: 7, MaxInactive: 60},
	}, false)
	s := m.st.get(again)
	if s == nil {
		t.Fatal("the refresh left out the copy of a session made again at its removal's version")
	}
	if v, _ := s.Note("n"); v != "new" {
		t.Errorf("note n=%q, want new", v)
	}
	if !s.madeAgainSince(7) {
		t.Error("the copy does not know it was made again above the removal: its late expiry would remove it")
	}
	if m.st.get(earlier) != nil {
		t.Error("the refresh took a copy the removal's record covers (the member missed the removal)")
	}
}
