package backup_test

import (
	"testing"

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
