package delta

import (
	"testing"
	"time"
)

// The record of an old id that a session was renamed back to (removal.back) covers no
// copy, is not passed on, names no session renamed from it, and makes a member's record
// of the id up to its version one of the same rename away; a rename away from the id
// again makes it an old id's record as before.
func TestRenamedBackRecord(t *testing.T) {
	r := newRemovals()
	r.note("S.a", 3, time.Hour, true, nil) // renamed away from S.a at version 3
	if !r.covers("S.a", 3) || len(r.list(0)) != 1 || r.renamedBackOver("S.a", 3) {
		t.Fatal("an old id's record before a rename back: does not cover its version, is not listed, or is renamed back")
	}
	r.renamedBack("S.a") // renamed back to S.a, still at version 3
	if r.covers("S.a", 3) || r.covers("S.a", 0) {
		t.Error("the record of an id renamed back covers the copy under it")
	}
	if n := len(r.list(0)); n != 0 {
		t.Errorf("the record of an id renamed back is listed (%d records): a member would remove its copy", n)
	}
	if r.renamedTo("S.a") != nil {
		t.Error("an id renamed back names the session renamed from it")
	}
	for v, want := range map[uint64]bool{2: true, 3: true, 4: false} {
		if got := r.renamedBackOver("S.a", v); got != want {
			t.Errorf("renamedBackOver(S.a, %d) = %v, want %v (a member's record above the version is a later rename away)", v, got, want)
		}
	}
	if r.renamedBackOver("S.b", 3) {
		t.Error("renamedBackOver of an id without a record")
	}
	r.renamedBack("T.a") // no record: nothing to mark
	if r.len() != 1 {
		t.Errorf("%d records after a rename back to an id without one, want 1", r.len())
	}
	r.note("S.a", 3, time.Hour, true, nil) // renamed away again
	if !r.covers("S.a", 3) || len(r.list(0)) != 1 || r.renamedBackOver("S.a", 3) {
		t.Error("a rename away after the rename back: the record does not cover the old id again")
	}
}
