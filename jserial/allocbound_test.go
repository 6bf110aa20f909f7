package jserial

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/gotribes/tribes/internal/allocbound"
)

// decodeBound is what decoding may allocate for an input of n bytes with the default
// limits (docs/security.md, "Memory amplification").
var decodeBound = allocbound.Bound{K: 56, C: 128 << 10}

// TestDecodeAllocationBound: the golden streams, the fuzz corpus and every stream of
// them with a length or count smashed to a large value (allocbound.Smash) allocate at
// most decodeBound, decoded whole and through a Reader in small chunks.
func TestDecodeAllocationBound(t *testing.T) {
	allocbound.WithoutRace(t)
	var inputs [][]byte
	files, _ := filepath.Glob("testdata/*.ser")
	for _, file := range files {
		if strings.Contains(file, "string_long") {
			continue
		}
		inputs = append(inputs, golden(t, strings.TrimSuffix(filepath.Base(file), ".ser")))
	}
	for _, s := range []string{sessionMessageHex, rpcMessageHex, noRpcReplyHex, deltaRequestHex} {
		inputs = append(inputs, hx(t, s))
	}
	inputs = append(inputs, allocbound.Corpus(t, "FuzzDecode")...)
	inputs = append(inputs, allocbound.Corpus(t, "FuzzDecoderReader")...)
	for _, in := range inputs[:len(inputs):len(inputs)] {
		inputs = append(inputs, allocbound.Smash(in)...)
	}
	allocbound.Check(t, decodeBound, inputs, func(b []byte) { _, _ = UnmarshalAll(b, DecoderConfig{}) })
	allocbound.Check(t, decodeBound, inputs, func(b []byte) {
		d, err := NewDecoder(&chunkReader{b: b, n: 3}, DecoderConfig{})
		if err != nil {
			t.Fatal(err)
		}
		for {
			if _, err := d.Decode(); err != nil {
				return
			}
		}
	})
}
