package backup

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/gotribes/tribes/session/delta"
)

// A diff of many actions, applied with maps of the names (indexes), leaves the session's
// attributes, notes and listeners exactly as the scans of a small diff do, their order
// included (the order the session is encoded in): sets, removals, a name removed and set
// again, which goes to the end.
func TestApplyDiffIndexedSameAsScan(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for round := range 200 {
		var st delta.SessionState
		for i := range r.IntN(6) {
			st.Attributes = append(st.Attributes, delta.NamedValue{Name: fmt.Sprint("n", i), Value: []byte{byte(i)}})
			st.Notes = append(st.Notes, delta.NamedValue{Name: fmt.Sprint("n", i+2), Value: []byte{byte(i)}})
			st.Listeners = append(st.Listeners, fmt.Sprint("n", i+1))
		}
		actions := make([]delta.Action, smallDiff+1+r.IntN(40))
		types := []delta.ActionType{delta.ActionAttribute, delta.ActionNote, delta.ActionListener}
		for i := range actions {
			op := delta.OpSet
			if r.IntN(3) == 0 {
				op = delta.OpRemove
			}
			actions[i] = delta.Action{Type: types[r.IntN(len(types))], Op: op, Name: fmt.Sprint("n", r.IntN(8)),
				Value: []byte{byte(round), byte(i)}}
		}
		clone := func() delta.SessionState {
			c := st
			c.Attributes, c.Notes, c.Listeners = slices.Clone(st.Attributes), slices.Clone(st.Notes), slices.Clone(st.Listeners)
			return c
		}
		scanned, indexed := clone(), clone()
		ix := newIndexes(&indexed)
		if ix == nil {
			t.Fatal("no indexes for distinct names")
		}
		for _, a := range actions {
			if err := apply(&scanned, a, nil, delta.JavaCodec{}); err != nil {
				t.Fatal(err)
			}
			if err := apply(&indexed, a, ix, delta.JavaCodec{}); err != nil {
				t.Fatal(err)
			}
		}
		ix.finish(&indexed)
		if fmt.Sprint(scanned.Attributes, scanned.Notes, scanned.Listeners) !=
			fmt.Sprint(indexed.Attributes, indexed.Notes, indexed.Listeners) {
			t.Fatalf("round %d: scanned %v %v %v, indexed %v %v %v", round, scanned.Attributes, scanned.Notes,
				scanned.Listeners, indexed.Attributes, indexed.Notes, indexed.Listeners)
		}
	}
	// A name held twice (which the scans handle: a set changes the first, a removal takes
	// both) makes the diff apply by the scans.
	dup := delta.SessionState{Attributes: []delta.NamedValue{{Name: "a"}, {Name: "a"}}}
	if newIndexes(&dup) != nil {
		t.Error("indexes for a session holding a name twice")
	}
}
