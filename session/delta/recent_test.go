package delta

import (
	"strconv"
	"testing"
)

// TestRecentBounded: the records of recent removals and renames keep the last max keys,
// forgetting the oldest first, and a key put again keeps its place and merges its value.
func TestRecentBounded(t *testing.T) {
	r := recent[uint64]{max: 3}
	keep := func(old, v uint64) uint64 { return max(old, v) }
	for i := range 3 {
		r.put(strconv.Itoa(i), uint64(i+10), keep)
	}
	r.put("0", 5, keep) // held: merged, no slot taken
	if v, ok := r.get("0"); !ok || v != 10 {
		t.Fatalf("key 0 after a lower value: %d %v, want 10 true", v, ok)
	}
	r.put("3", 13, keep) // full: forgets 0, the oldest
	if _, ok := r.get("0"); ok {
		t.Error("the oldest key is still held after a fourth key in a record of 3")
	}
	for i := 1; i <= 3; i++ {
		if v, ok := r.get(strconv.Itoa(i)); !ok || v != uint64(i+10) {
			t.Errorf("key %d: %d %v", i, v, ok)
		}
	}
	if len(r.byID) != 3 || len(r.order) != 3 {
		t.Errorf("%d keys, ring of %d: want 3 and 3", len(r.byID), len(r.order))
	}
}
