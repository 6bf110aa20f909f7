package delta

import "testing"

// TestRefreshMergesAMembersRemovals: a refresh that finds a member's copy not newer by
// version merges the removals it holds (its tombstones) by their stamps, as it merges its
// attributes: r, removed there after this copy's value was set, is removed here and keeps
// the removal's stamp (an older change setting it does not bring it back); g, which this
// copy lacks, is recorded as removed; x, set here after the removal, and h, changed here
// and not sent yet, stay.
func TestRefreshMergesAMembersRemovals(t *testing.T) {
	m := &Manager{cl: &Cluster{}}
	s := &Session{m: m, id: "S", valid: true, version: 5, maxInactive: 60}
	s.attrs = []attrEntry{
		{name: "r", data: []byte("here"), version: 3, origin: 1},
		{name: "x", data: []byte("here"), version: 5, origin: 1},
		{name: "h", data: []byte("here"), version: 2, origin: 1, here: true},
	}
	removed := stamp{4, 2}
	st := &SessionState{ID: "S", Version: 5, stamped: true, MaxInactive: 60, tombs: []tomb{
		{name: "r", st: removed}, {name: "x", st: removed}, {name: "h", st: removed}, {name: "g", st: removed},
	}}
	if _, changed := s.mergeStamped(st, false); !changed {
		t.Error("mergeStamped reported no change")
	}
	for name, want := range map[string]bool{"r": false, "x": true, "h": true, "g": false} {
		if got := s.find(name) >= 0; got != want {
			t.Errorf("attribute %s held: %v, want %v", name, got, want)
		}
	}
	for _, name := range []string{"r", "g"} {
		if got := s.stampOf(name); got != removed {
			t.Errorf("%s's stamp %+v, want the member's removal's %+v", name, got, removed)
		}
	}
	if got := s.stampOf("x"); got != (stamp{5, 1}) {
		t.Errorf("x's stamp %+v, want this copy's (5, 1)", got)
	}
	// An older change setting r, arriving late, stays out.
	s.apply([]Action{{Type: ActionAttribute, Op: OpSet, Name: "r", Value: []byte("late")}}, stamp{3, 9}, false, false)
	if s.find("r") >= 0 {
		t.Error("an older change set r again after the merge of its removal")
	}
	// Merged again, the copy holds it all: nothing changes.
	if _, changed := s.mergeStamped(st, false); changed {
		t.Error("a second merge of the same copy reported a change")
	}
}
