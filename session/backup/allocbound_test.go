package backup_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/gotribes/tribes/internal/allocbound"
	"github.com/gotribes/tribes/jserial"
	"github.com/gotribes/tribes/session/backup"
)

// TestSessionAllocationBound: a session's stream, decoded as the map does (jserial, then
// Codec.Decode), and a diff applied to a session allocate at most 40 times their length
// plus 256 KiB (docs/security.md: MaxExpansion's 16 times the stream plus 128 KiB for
// the values, the jserial decoding besides) for FuzzSession's seeds and corpus and every
// seed with a length or count smashed to a large value.
func TestSessionAllocationBound(t *testing.T) {
	var inputs [][]byte
	for _, name := range []string{"session", "session_empty", "diff", "diff_principal"} {
		inputs = append(inputs, readGolden(t, name))
	}
	inputs = append(inputs, allocbound.Corpus(t, "FuzzSession")...)
	for _, in := range inputs[:len(inputs):len(inputs)] {
		inputs = append(inputs, allocbound.Smash(in)...)
	}
	bound := allocbound.Bound{K: 40, C: 256 << 10}
	allocbound.Check(t, bound, inputs, func(b []byte) {
		if v, err := jserial.Unmarshal(b); err == nil {
			_, _ = backup.Codec{}.Decode(v)
		}
	})
	s := backup.NewSession("A1.node1", 0, backup.Limits{}) // the golden diffs' id
	allocbound.Check(t, bound, inputs, func(b []byte) { _ = s.ApplyDiff(b) })
}

// TestDenseDiffAllocationBound: a diff setting 5 000 or 20 000 new attributes to true
// (22 bytes an action) applied to a session that has none allocates the actions' Go form
// (48 bytes each, the names interned in a map, each value's stream) and the session's
// storage of them (its attributes, their index by name, the changes it records), each
// allocated once at the size the diff's actions announce: 23.4 and 24.4 times its
// length. It is held to 32 times its length plus 256 KiB; before, the actions, the names'
// map, the attributes and their index grew by appending: 42.0 and 49.3 times.
func TestDenseDiffAllocationBound(t *testing.T) {
	for _, n := range []int{5000, 20_000} {
		src := backup.NewSession("A1.node1", time.Hour, backup.Limits{})
		for i := range n {
			if err := src.Set(strconv.Itoa(i), true); err != nil {
				t.Fatal(err)
			}
		}
		diff, err := src.Diff()
		if err != nil {
			t.Fatal(err)
		}
		r := allocbound.Check(t, allocbound.Bound{K: 32, C: 256 << 10}, [][]byte{diff}, func(b []byte) {
			s := backup.NewSession("A1.node1", time.Hour, backup.Limits{})
			if err := s.ApplyDiff(b); err != nil || len(s.AttributeNames()) != n {
				t.Errorf("%d attributes, %v", len(s.AttributeNames()), err)
			}
		})
		t.Logf("a diff of %d attributes: %d bytes, %.1f times", n, len(diff), r.Ratio)
	}
}
