package backup_test

import (
	"fmt"
	"slices"
	"strconv"
	"testing"

	"github.com/gotribes/tribes/session/backup"
	"github.com/gotribes/tribes/session/delta"
)

// TestSetManyAttributesScansNothing: building a session of 20 000 attributes with Set
// looks no name up by a scan (Set finds a name in an index, and replaces a pending change
// in place), where it scanned the attributes before each Set, n²/2 comparisons in all.
func TestSetManyAttributesScansNothing(t *testing.T) {
	s := backup.NewSession("S1", 0, backup.Limits{})
	scans := 0
	restore := backup.CountScans(&scans)
	defer restore()
	const n = 20000
	for i := range n {
		if err := s.Set("a"+strconv.Itoa(i), i); err != nil {
			t.Fatal(err)
		}
	}
	restore()
	if scans != 0 {
		t.Fatalf("Set scanned %d names", scans)
	}
	if got := s.AttributeNames(); len(got) != n || got[0] != "a0" || got[n-1] != "a"+strconv.Itoa(n-1) {
		t.Fatalf("%d names, first %q", len(got), got[0])
	}
	if v, ok, err := s.Get("a12345"); err != nil || !ok || v != 12345 {
		t.Fatalf("a12345 = %v %v %v", v, ok, err)
	}
}

// TestSetKeepsTheOrderOfNamesAndChanges: whatever the mix of Sets, Removes and diffs, the
// attributes keep the order they were first set in (a replaced value keeps its place, a
// removed one leaves it, one set again goes last) and a diff carries each change once,
// the latest, in the order of the latest changes, as Tomcat's DeltaRequest: checked
// against a plain model, across the compactions of the replaced changes, the holes
// Removes leave in the attributes, and the index rebuilt after an ApplyDiff.
func TestSetKeepsTheOrderOfNamesAndChanges(t *testing.T) {
	s := backup.NewSession("S1", 0, backup.Limits{})
	var names []string            // model of the attributes' order
	vals := map[string]int{}      // model of the values
	var changes []string          // model of the pending changes' order
	change := map[string]string{} // and their kind, "set" or "remove"
	touch := func(name, kind string) {
		changes = slices.DeleteFunc(changes, func(c string) bool { return c == name })
		changes = append(changes, name)
		change[name] = kind
	}
	check := func(step int) {
		t.Helper()
		if got := s.AttributeNames(); !slices.Equal(got, names) {
			t.Fatalf("step %d: names %v, want %v", step, got, names)
		}
		for _, nm := range names {
			if v, ok, err := s.Get(nm); err != nil || !ok || v != vals[nm] {
				t.Fatalf("step %d: %s = %v %v %v, want %d", step, nm, v, ok, err, vals[nm])
			}
		}
	}
	diff := func(step int) {
		t.Helper()
		if s.Dirty() != (len(changes) > 0) {
			t.Fatalf("step %d: Dirty %v with %d changes", step, s.Dirty(), len(changes))
		}
		b, err := s.Diff()
		if err != nil {
			t.Fatal(err)
		}
		_, acts, err := delta.JavaCodec{}.DecodeDeltaRequest(b)
		if err != nil {
			t.Fatal(err)
		}
		var got, want []string
		for _, a := range acts {
			got = append(got, fmt.Sprintf("%s %s", a.Op, a.Name))
		}
		for _, c := range changes {
			op := delta.OpSet
			if change[c] == "remove" {
				op = delta.OpRemove
			}
			want = append(want, fmt.Sprintf("%s %s", op, c))
		}
		if !slices.Equal(got, want) {
			t.Fatalf("step %d: diff %v, want %v", step, got, want)
		}
		changes, change = nil, map[string]string{}
		if s.Dirty() {
			t.Fatalf("step %d: dirty after Diff", step)
		}
	}
	x := uint32(7)
	for step := range 3000 {
		x = x*1664525 + 1013904223
		nm := "k" + strconv.Itoa(int(x>>8)%40)
		switch r := (x >> 20) % 100; {
		case r < 70:
			v := step
			if err := s.Set(nm, v); err != nil {
				t.Fatal(err)
			}
			if _, ok := vals[nm]; !ok {
				names = append(names, nm)
			}
			vals[nm] = v
			touch(nm, "set")
		case r < 90:
			s.Remove(nm)
			if _, ok := vals[nm]; ok {
				names = slices.DeleteFunc(names, func(c string) bool { return c == nm })
				delete(vals, nm)
				touch(nm, "remove")
			}
		case r < 97:
			diff(step)
		default: // another node's diff replaces the session's state
			o := backup.NewSession("S1", 0, backup.Limits{})
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
			if _, ok := vals[nm]; !ok {
				names = append(names, nm)
			}
			vals[nm] = -step
		}
		check(step)
	}
	diff(-1)
}

// BenchmarkSessionSetMany builds a session of n attributes with Set.
func BenchmarkSessionSetMany(b *testing.B) {
	for _, n := range []int{1000, 20000} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			names := make([]string, n)
			for i := range names {
				names[i] = "attr" + strconv.Itoa(i)
			}
			b.ReportAllocs()
			for b.Loop() {
				s := backup.NewSession("S1", 0, backup.Limits{})
				for i, nm := range names {
					if err := s.Set(nm, i); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}
