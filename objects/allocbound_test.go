package objects_test

import (
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/allocbound"
	"github.com/gotribes/tribes/jserial"
	"github.com/gotribes/tribes/objects"
)

// fuzzSeeds are FuzzDecode's seeds.
func fuzzSeeds(tb testing.TB) [][]byte {
	var out [][]byte
	for _, v := range []any{"hello", int32(42), []any{"a", int64(1), true}, &jserial.Map{Entries: []jserial.Entry{{Key: "k", Value: []byte{1, 2}}}}, nil} {
		b, err := objects.Marshal(v)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, b)
	}
	return append(out, []byte{0xac, 0xed, 0x00, 0x05})
}

// TestDecodeAllocationBound: Decode allocates at most 40 times a message's length plus
// 128 KiB (docs/security.md, "Memory amplification") for FuzzDecode's seeds and every
// seed with a length or count smashed to a large value.
func TestDecodeAllocationBound(t *testing.T) {
	inputs := append(fuzzSeeds(t), allocbound.Corpus(t, "FuzzDecode")...)
	for _, in := range inputs[:len(inputs):len(inputs)] {
		inputs = append(inputs, allocbound.Smash(in)...)
	}
	allocbound.Check(t, allocbound.Bound{K: 40, C: 128 << 10}, inputs, func(b []byte) {
		_, _ = objects.Decode(&channel.Message{Data: b})
	})
}
