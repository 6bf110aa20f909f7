package farm_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/gotribes/tribes/farm"
	"github.com/gotribes/tribes/internal/allocbound"
	"github.com/gotribes/tribes/jserial"
)

// fuzzSeeds are FuzzDecodeMessage's seeds: the Java deployer's messages.
func fuzzSeeds(tb testing.TB) [][]byte {
	files, _ := filepath.Glob(filepath.Join("testdata", "java", "*.ser"))
	var out [][]byte
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// TestDecodeMessageAllocationBound: DecodeMessage, with the limits a Deployer of the
// default Config gives it, allocates at most 40 times a message's length plus 128 KiB
// (docs/security.md, "Memory amplification") for FuzzDecodeMessage's seeds and every
// seed with a length or count smashed to a large value.
func TestDecodeMessageAllocationBound(t *testing.T) {
	inputs := append(fuzzSeeds(t), allocbound.Corpus(t, "FuzzDecodeMessage")...)
	for _, in := range inputs[:len(inputs):len(inputs)] {
		inputs = append(inputs, allocbound.Smash(in)...)
	}
	limits := jserial.DecoderConfig{MaxBytes: 4<<20 + 4096, MaxArrayLen: 4 << 20, MaxDepth: 8, MaxHandles: 64}
	allocbound.Check(t, allocbound.Bound{K: 40, C: 128 << 10}, inputs, func(b []byte) { _, _ = farm.DecodeMessage(b, limits) })
}
