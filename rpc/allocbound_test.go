package rpc

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/gotribes/tribes/internal/allocbound"
	"github.com/gotribes/tribes/jserial"
)

// fuzzSeeds are FuzzUnmarshal's seeds.
func fuzzSeeds(tb testing.TB) [][]byte {
	var out [][]byte
	for _, m := range []*message{
		{uuid: []byte("0123456789abcdef"), rpcID: []byte("id"), payload: "hello"},
		{reply: true, noChannel: true, uuid: []byte{1, 2}, rpcID: []byte("x")},
	} {
		b, err := m.marshal()
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, b)
	}
	golden, _ := filepath.Glob(filepath.Join("testdata", "*.ser"))
	for _, name := range golden {
		b, err := os.ReadFile(name)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// TestUnmarshalAllocationBound: unmarshal (and peekRPCID) allocate at most 40 times a
// message's length plus 128 KiB (docs/security.md, "Memory amplification") for
// FuzzUnmarshal's seeds and every seed with a length or count smashed to a large value.
func TestUnmarshalAllocationBound(t *testing.T) {
	inputs := append(fuzzSeeds(t), allocbound.Corpus(t, "FuzzUnmarshal")...)
	for _, in := range inputs[:len(inputs):len(inputs)] {
		inputs = append(inputs, allocbound.Smash(in)...)
	}
	allocbound.Check(t, allocbound.Bound{K: 40, C: 128 << 10}, inputs, func(b []byte) {
		_, _ = peekRPCID(b)
		_, _ = unmarshal(b, jserial.DecoderConfig{})
	})
}
