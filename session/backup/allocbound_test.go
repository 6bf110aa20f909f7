package backup_test

import (
	"bytes"
	"strconv"
	"testing"
	"time"

	"github.com/gotribes/tribes/internal/allocbound"
	"github.com/gotribes/tribes/jserial"
	"github.com/gotribes/tribes/session/backup"
	"github.com/gotribes/tribes/session/delta"
)

// TestSessionAllocationBound: a session's stream, decoded as the map does (jserial, then
// Codec.Decode), and a diff applied to a session allocate at most 40 times their length
// plus 256 KiB (docs/security.md: MaxExpansion's 16 times the stream plus 128 KiB for
// the values, the jserial decoding besides) for FuzzSession's seeds and corpus and every
// seed with a length or count smashed to a large value.
func TestSessionAllocationBound(t *testing.T) {
	allocbound.WithoutRace(t)
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
// allocated once at the size the diff's actions announce: 25.1 and 24.4 times its
// length. It is held to 32 times its length plus 256 KiB; before, the actions, the names'
// map, the attributes and their index grew by appending: 42.0 and 49.3 times.
func TestDenseDiffAllocationBound(t *testing.T) {
	allocbound.WithoutRace(t)
	for _, n := range []int{5000, 20_000} {
		diff := denseDiff(t, n)
		r := allocbound.Check(t, allocbound.Bound{K: 32, C: 256 << 10}, [][]byte{diff}, func(b []byte) {
			s := backup.NewSession("A1.node1", time.Hour, backup.Limits{})
			if err := s.ApplyDiff(b); err != nil || len(s.AttributeNames()) != n {
				t.Errorf("%d attributes, %v", len(s.AttributeNames()), err)
			}
		})
		t.Logf("a diff of %d attributes: %d bytes, %.1f times", n, len(diff), r.Ratio)
	}
}

// denseDiff is the diff of a session (id A1.node1, default Limits) whose attributes "0"
// to n-1 were set to true since its last Diff, encoded from its actions as Diff encodes
// them: a session's Set looks its attributes and changes through one by one, so that
// setting 20 000 of them took 287 s under -race on a loaded machine, 35 s without. It
// checks first that for 300 attributes it is what Diff returns after as many Sets.
func denseDiff(t *testing.T, n int) []byte {
	t.Helper()
	encode := func(n int, value []byte) []byte {
		actions := make([]delta.Action, n)
		for i := range actions {
			actions[i] = delta.Action{Type: delta.ActionAttribute, Op: delta.OpSet, Name: strconv.Itoa(i), Value: value}
		}
		b, err := delta.JavaCodec{}.EncodeDeltaRequest("A1.node1", actions)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	const small = 300
	src := backup.NewSession("A1.node1", time.Hour, backup.Limits{})
	for i := range small {
		if err := src.Set(strconv.Itoa(i), true); err != nil {
			t.Fatal(err)
		}
	}
	want, err := src.Diff()
	if err != nil {
		t.Fatal(err)
	}
	_, actions, err := delta.JavaCodec{}.DecodeDeltaRequest(want)
	if err != nil || len(actions) != small {
		t.Fatalf("the diff of %d Sets: %d actions, %v", small, len(actions), err)
	}
	value := actions[0].Value
	if got := encode(small, value); !bytes.Equal(got, want) {
		t.Fatalf("%d actions encoded: %d bytes, not the %d bytes of Diff after as many Sets", small, len(got), len(want))
	}
	return encode(n, value)
}
