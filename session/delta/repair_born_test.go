package delta

import (
	"testing"
	"time"
)

// TestRepairTakesSessionMadeAgainAtTheRemoval: a repair's answer holding a session made
// again under a removed id (CreateWithID: it starts at the removal's version, born there)
// before its first delta is taken, as a refresh takes it
// (TestRefreshTakesSessionMadeAgainAtTheRemoval); a copy of the removed session itself,
// at or below the removal's version and not made again, stays out.
func TestRepairTakesSessionMadeAgainAtTheRemoval(t *testing.T) {
	m := &Manager{gone: newRemovals()}
	m.gone.note("S.a", 5, time.Hour, false, nil)
	if m.stateRemoved(&SessionState{ID: "S.a", Version: 5, born: 5}) {
		t.Error("the session made again at the removal's version was taken for the removed one")
	}
	if !m.stateRemoved(&SessionState{ID: "S.a", Version: 5}) {
		t.Error("a copy of the removed session, at its removal's version, was taken")
	}
	if !m.stateRemoved(&SessionState{ID: "S.a", Version: 4, born: 3}) {
		t.Error("a copy made again above an earlier removal, below this one, was taken")
	}
}
