package backup

import (
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"testing"

	"github.com/gotribes/tribes/session/delta"
)

// TestRemoveManyAttributesLinear: Remove scanned the attributes for the name, moved those
// after it, and dropped the index, which the next Set built again: 20 000 Removes after
// 20 000 Sets went over about n²/2 = 2×10⁸ places, and a Remove and a Set of a session of
// 20 000 attributes built an index of them (about 1 MB). A Remove now finds the name in
// the index and leaves a hole, closed with the others once they are half of the places:
// the passes over the attributes go over at most 3n places in all, and a Remove and a Set
// allocate no index.
func TestRemoveManyAttributesLinear(t *testing.T) {
	const n = 20000
	s := NewSession("S1", 0, Limits{})
	passed, scanned := 0, 0
	defer func(p, sc func(int)) { passHook, scanHook = p, sc }(passHook, scanHook)
	passHook = func(l int) { passed += l }
	scanHook = func(l int) { scanned += l }
	for i := range n {
		if err := s.Set("a"+strconv.Itoa(i), i); err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		s.Remove("a" + strconv.Itoa(i))
	}
	if passed > 3*n || scanned != 0 {
		t.Fatalf("20 000 Sets and Removes went over %d places in passes and %d in scans, want at most %d and 0",
			passed, scanned, 3*n)
	}
	if names := s.AttributeNames(); len(names) != 0 {
		t.Fatalf("%d names left", len(names))
	}
	if ch := s.changes(); len(ch) != n || ch[0].Op != delta.OpRemove || ch[n-1].Name != "a"+strconv.Itoa(n-1) {
		t.Fatalf("%d changes, want the %d removals", len(ch), n)
	}

	// A Remove and a Set of one attribute of 20 000, again and again.
	for i := range n {
		if err := s.Set("b"+strconv.Itoa(i), i); err != nil {
			t.Fatal(err)
		}
	}
	const rounds = 200
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range rounds {
		nm := "b" + strconv.Itoa(i*97%n)
		s.Remove(nm)
		if err := s.Set(nm, i); err != nil {
			t.Fatal(err)
		}
	}
	runtime.ReadMemStats(&after)
	if per := (after.TotalAlloc - before.TotalAlloc) / rounds; per > 16<<10 {
		t.Errorf("a Remove and a Set allocate %d bytes, want at most 16 KiB (no index of the 20 000 names)", per)
	}
	if v, ok, err := s.Get("b97"); err != nil || !ok || v != 1 {
		t.Errorf("b97 = %v %v %v, want 1", v, ok, err)
	}
}

// FuzzSessionSetRemove: whatever the mix of Sets, Removes, Gets, diffs taken and
// applied, and states received in full that repeat a name (as a Java peer's stream may),
// the session agrees with a plain model after each step: its attributes (names in the
// order first set, a removed one set again going last, and values; a name repeated in
// a state received in full is held once, with the last value, at its first place, as
// Codec.Decode keeps it), its pending changes (changes: each name's latest change once,
// in the order of the latest), the index and the bytes it counts, and a copy that
// applies its diffs holds what the model of the changes gives (a diff applied to both,
// then the changes pending before it).
func FuzzSessionSetRemove(f *testing.F) {
	f.Add([]byte{0, 8, 16, 2, 10, 3, 0, 4})
	f.Add([]byte{0, 9, 17, 25, 33, 2, 10, 18, 26, 34, 3, 8, 6, 4, 1})
	f.Add(slices.Repeat([]byte{0, 2, 8, 10, 16, 18, 5}, 20))
	f.Add([]byte{8, 15, 15, 12, 10, 12, 14, 12, 10, 10, 12, 5, 23, 16, 22, 20, 18, 20, 15, 8, 13, 10, 12})
	f.Fuzz(func(t *testing.T, ops []byte) {
		if len(ops) > 4096 {
			return
		}
		s := NewSession("S1", 0, Limits{})
		cp := NewSession("S1", 0, Limits{})
		var attrs []modelAttr      // the attributes, in order
		var pending []delta.Action // the changes since the last Diff (Value: the value set)
		cpVals := map[string]int{} // the copy's values
		touch := func(a delta.Action) {
			pending = slices.DeleteFunc(pending, func(p delta.Action) bool { return p.Name == a.Name })
			pending = append(pending, a)
		}
		for step, op := range ops {
			nm := "k" + strconv.Itoa(int(op>>3))
			switch op % 8 {
			case 0, 1: // Set
				if err := s.Set(nm, step); err != nil {
					t.Fatal(err)
				}
				attrs = setModel(attrs, nm, step)
				touch(delta.Action{Op: delta.OpSet, Name: nm, Value: []byte(strconv.Itoa(step))})
			case 2, 3: // Remove
				s.Remove(nm)
				if i := findModel(attrs, nm); i >= 0 {
					attrs = slices.Delete(attrs, i, i+1)
					touch(delta.Action{Op: delta.OpRemove, Name: nm})
				}
			case 4: // Get, and AttributeNames (which closes the holes)
				v, ok, err := s.Get(nm)
				if i := findModel(attrs, nm); err != nil || ok != (i >= 0) || ok && v != attrs[i].v {
					t.Fatalf("step %d: Get %s = %v %v %v, want it at %d of %v", step, nm, v, ok, err, i, attrs)
				}
				if got := s.AttributeNames(); !slices.Equal(got, modelNames(attrs)) {
					t.Fatalf("step %d: AttributeNames %v, want %v", step, got, modelNames(attrs))
				}
			case 7: // received in full, its stream holding nm once more at the end (Decode)
				b, err := delta.JavaValueCodec{}.Marshal(-step)
				if err != nil {
					t.Fatal(err)
				}
				s.mu.Lock()
				s.compactAttrs()
				st := s.st
				st.Attributes = append(slices.Clone(st.Attributes), delta.NamedValue{Name: nm, Value: b})
				ext, err := delta.JavaCodec{}.SessionData(&st)
				if err != nil {
					t.Fatal(err)
				}
				if st, err = (delta.JavaCodec{}).DecodeSessionData(ext); err != nil {
					t.Fatal(err)
				}
				s.st.Attributes = st.Attributes
				s.stateReplaced()
				s.mu.Unlock()
				attrs = setModel(attrs, nm, -step)
			case 5: // Diff, applied to the copy
				b, err := s.Diff()
				if err != nil {
					t.Fatal(err)
				}
				if err := cp.ApplyDiff(b); err != nil {
					t.Fatal(err)
				}
				for _, a := range pending {
					if a.Op == delta.OpSet {
						cpVals[a.Name], _ = strconv.Atoi(string(a.Value))
					} else {
						delete(cpVals, a.Name)
					}
				}
				pending = nil
				got := cp.AttributeNames()
				for _, nm := range got {
					if v, _, err := cp.Get(nm); err != nil || v != cpVals[nm] {
						t.Fatalf("step %d: the copy's %s = %v %v, want %d", step, nm, v, err, cpVals[nm])
					}
				}
				if len(got) != len(cpVals) {
					t.Fatalf("step %d: the copy holds %v, want %v", step, got, cpVals)
				}
			case 6: // another node's diff replaces the session's state
				o := NewSession("S1", 0, Limits{})
				if err := o.Set(nm, -step); err != nil {
					t.Fatal(err)
				}
				b, err := o.Diff()
				if err != nil {
					t.Fatal(err)
				}
				if err := s.ApplyDiff(b); err != nil {
					t.Fatal(err)
				}
				if err := cp.ApplyDiff(b); err != nil {
					t.Fatal(err)
				}
				attrs = setModel(attrs, nm, -step)
				cpVals[nm] = -step
			}
			checkModel(t, step, s, attrs, pending)
		}
	})
}

// modelAttr is an attribute of FuzzSessionSetRemove's model: its name and value.
type modelAttr struct {
	name string
	v    int
}

// findModel returns the place of attribute name in attrs, -1 for none.
func findModel(attrs []modelAttr, name string) int {
	return slices.IndexFunc(attrs, func(a modelAttr) bool { return a.name == name })
}

// setModel sets attribute name in attrs to v, or appends it.
func setModel(attrs []modelAttr, name string, v int) []modelAttr {
	if i := findModel(attrs, name); i >= 0 {
		attrs[i].v = v
		return attrs
	}
	return append(attrs, modelAttr{name, v})
}

// modelNames returns the names of attrs, in order.
func modelNames(attrs []modelAttr) []string {
	names := make([]string, len(attrs))
	for i, a := range attrs {
		names[i] = a.name
	}
	return names
}

// checkModel checks s against the model: attrs (names in order, values), and the
// pending changes' names and operations in order; and s's index (each name's place in
// attrAt, each name once) and byte count against its attributes.
func checkModel(t *testing.T, step int, s *Session, attrs []modelAttr, pending []delta.Action) {
	t.Helper()
	s.mu.Lock()
	var live []string
	var n int64
	for i, a := range s.st.Attributes {
		if s.attrGone != nil && s.attrGone[i] {
			continue
		}
		if slices.Contains(live, a.Name) {
			t.Fatalf("step %d: %s held twice: %v", step, a.Name, s.st.Attributes)
		}
		live = append(live, a.Name)
		n += int64(len(a.Name) + len(a.Value))
		if s.attrAt == nil {
			continue
		}
		if j, ok := s.attrAt[a.Name]; !ok || j != i {
			t.Fatalf("step %d: attrAt[%s] = %d %v, want %d", step, a.Name, j, ok, i)
		}
	}
	if s.attrAt != nil && (len(s.attrAt) != len(live) || s.attrN != n+namedBytes(s.st.Notes)) {
		t.Fatalf("step %d: index of %d names, %d bytes; want %d and %d", step, len(s.attrAt), s.attrN, len(live), n)
	}
	holes := 0
	for _, g := range s.attrGone {
		if g {
			holes++
		}
	}
	if holes != s.attrHoles || holes > 0 && len(s.attrGone) != len(s.st.Attributes) {
		t.Fatalf("step %d: %d holes counted %d, %d marks for %d places", step, holes, s.attrHoles, len(s.attrGone),
			len(s.st.Attributes))
	}
	var got, want []string
	for _, a := range s.changes() {
		got = append(got, fmt.Sprint(a.Op, " ", a.Name))
	}
	for _, a := range pending {
		want = append(want, fmt.Sprint(a.Op, " ", a.Name))
	}
	s.mu.Unlock()
	if !slices.Equal(live, modelNames(attrs)) {
		t.Fatalf("step %d: attributes %v, want %v", step, live, modelNames(attrs))
	}
	if !slices.Equal(got, want) {
		t.Fatalf("step %d: changes %v, want %v", step, got, want)
	}
	for _, a := range attrs {
		if v, ok, err := s.Get(a.name); err != nil || !ok || v != a.v {
			t.Fatalf("step %d: %s = %v %v %v, want %d", step, a.name, v, ok, err, a.v)
		}
	}
}
