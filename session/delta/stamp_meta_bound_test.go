package delta

import (
	"fmt"
	"testing"
)

// TestMetaStampsOfRemovedPartsBounded: a note or a named listener set and removed kept
// its stamp for ever, so a session whose requests used distinct note names (a note per
// request, removed at its end) grew by one stamp a name, on the node that made the
// changes and on every copy. The stamps of parts no longer there are bounded as
// attribute tombstones are (maxTombs, the oldest forgotten first, its version kept in
// forgot); those of parts still there, and the recent removals, stay and keep older
// changes out.
func TestMetaStampsOfRemovedPartsBounded(t *testing.T) {
	m := &Manager{cl: &Cluster{}}
	local := &Session{m: m, id: "S", valid: true, primary: true}
	replica := &Session{m: m, id: "S", valid: true}
	const names = 40
	local.setNote("kept", "v")
	local.stampLocal([]Action{{Type: ActionNote, Op: OpSet, Name: "kept", Value: []byte("v")}}, stamp{1, 1})
	replica.apply([]Action{{Type: ActionNote, Op: OpSet, Name: "kept", Value: []byte("v")}}, stamp{1, 1}, false, false)
	var v uint64 = 1
	for i := range names {
		typ := ActionNote
		if i%2 == 1 {
			typ = ActionListener
		}
		name := fmt.Sprint("part", i)
		set := Action{Type: typ, Op: OpSet, Name: name, Value: []byte{}}
		remove := Action{Type: typ, Op: OpRemove, Name: name}
		v++
		replica.apply([]Action{set}, stamp{v, 2}, false, false)
		v++
		replica.apply([]Action{remove}, stamp{v, 2}, false, false)
		// Here the part is set and removed by this node's requests, then stamped.
		local.stampLocal([]Action{set}, stamp{v - 1, 1})
		local.stampLocal([]Action{remove}, stamp{v, 1})
	}
	for name, s := range map[string]*Session{"local": local, "replica": replica} {
		if len(s.e().meta) > maxTombs+1 {
			t.Errorf("%s: %d meta stamps after %d parts set and removed, want at most %d", name, len(s.e().meta), names, maxTombs+1)
		}
		if got := s.metaStampOf(ActionNote, "kept"); got.version != 1 {
			t.Errorf("%s: the stamp of a note still there is %+v, want version 1", name, got)
		}
		if top := s.topVersion(); top != v {
			t.Errorf("%s: topVersion %d, want %d (a forgotten stamp's version stays known)", name, top, v)
		}
	}
	// The latest removal is remembered: its older set does not bring the part back.
	last := fmt.Sprint("part", names-1)
	replica.apply([]Action{{Type: ActionListener, Op: OpSet, Name: last, Value: []byte{}}}, stamp{v - 1, 3}, false, false)
	if named := replica.e().named; len(named) != 0 {
		t.Errorf("an older attach of a listener removed lately applied: %v", named)
	}
}
