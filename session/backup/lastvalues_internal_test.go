package backup

import (
	"fmt"
	"slices"
	"strconv"
	"testing"

	"github.com/gotribes/tribes/session/delta"
)

// TestLastValues: lastValues keeps one value per name, the last, at the name's first
// place, and returns its input itself when no name repeats; 2 000 names there twice
// (4 000 values) come back as 2 000, each with its second value.
func TestLastValues(t *testing.T) {
	nv := func(s string) []delta.NamedValue { // "a1 b2 a3": a=1, b=2, a=3
		var vs []delta.NamedValue
		for i := 0; i+1 < len(s); i += 3 {
			vs = append(vs, delta.NamedValue{Name: s[i : i+1], Value: []byte(s[i+1 : i+2])})
		}
		return vs
	}
	for in, want := range map[string]string{
		"": "", "a1": "a1", "a1 b2": "a1 b2", "a1 a2": "a2", "a1 b2 a3": "a3 b2", "a1 b2 a3 b4 c5 a6": "a6 b4 c5",
		"a1 b2 b3 c4 b5 a6 d7": "a6 b5 c4 d7",
	} {
		got := lastValues(nv(in))
		if fmt.Sprint(got) != fmt.Sprint(nv(want)) {
			t.Errorf("lastValues(%s) = %v, want %s", in, got, want)
		}
	}
	same := nv("a1 b2 c3")
	if got := lastValues(same); &got[0] != &same[0] {
		t.Errorf("lastValues copied values that repeat no name")
	}
	const n = 2000
	var vs []delta.NamedValue
	for round := range 2 {
		for i := range n {
			vs = append(vs, delta.NamedValue{Name: "a" + strconv.Itoa(i), Value: []byte{byte(round)}})
		}
	}
	got := lastValues(vs)
	if len(got) != n || slices.ContainsFunc(got, func(v delta.NamedValue) bool { return v.Value[0] != 1 }) ||
		got[n-1].Name != "a"+strconv.Itoa(n-1) {
		t.Errorf("%d names there twice: %d values back, want %d, each the second", n, len(got), n)
	}
}
