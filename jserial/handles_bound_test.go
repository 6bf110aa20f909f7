package jserial

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/gotribes/tribes/internal/allocbound"
)

// TestHandlesAndResultCharged: the handle table (a handle for every string, object,
// array, enum, class and class descriptor) and UnmarshalAll's result (a value for every
// top-level element) count in the stream's objects' budget, each array they grow to, so
// that streams of many small handles or elements allocate at most decodeBound, decoded
// or refused with ErrLimit. Before, neither was counted: 131 073 top-level TC_NULLs (a
// 16-byte value a byte, in arrays grown by doubling) allocated 64 times their stream,
// and an object whose writeObject annotation of TC_NULLs took the objects' budget whole
// (charged 64 times its bytes), followed by 131 073 empty strings (3 bytes each, a
// handle, a value of the result and a string header: 48 times), 58.3 times; 51.0 now.
func TestHandlesAndResultCharged(t *testing.T) {
	allocbound.WithoutRace(t)
	const n = 1<<17 + 1
	nulls := append(header(), bytes.Repeat([]byte{tcNull}, n)...)
	strs := bytes.Repeat([]byte{tcString, 0, 0}, n)
	mixed := append(annotated("writeObject", bytes.Repeat([]byte{tcNull}, 1<<20+1)), strs...)
	refs := append(header(tcString, 0, 0), bytes.Repeat([]byte{tcReference, 0, 0x7e, 0, 0}, n)...)
	inputs := [][]byte{nulls, append(header(), strs...), mixed, refs}
	r := allocbound.Check(t, decodeBound, inputs, func(b []byte) {
		if _, err := UnmarshalAll(b, DecoderConfig{}); err != nil && !errors.Is(err, ErrLimit) {
			t.Errorf("%d bytes: %v", len(b), err)
		}
	})
	t.Logf("whole: %.1f times at worst", r.Ratio)
	r = allocbound.Check(t, decodeBound, inputs, func(b []byte) {
		d, err := NewDecoder(&chunkReader{b: b, n: 4096}, DecoderConfig{})
		if err != nil {
			t.Fatal(err)
		}
		for {
			if _, err := d.Decode(); err != nil {
				if !errors.Is(err, ErrLimit) && err != io.EOF {
					t.Errorf("%d bytes from a Reader: %v", len(b), err)
				}
				return
			}
		}
	})
	t.Logf("from a Reader: %.1f times at worst", r.Ratio)
	// Elements of a few bytes each, charged at most 43 times their bytes, decode: the
	// empty strings, and references to one string (5 bytes each).
	for _, in := range inputs[1:2:2] {
		in = append(in, refs[4:]...)
		if out, err := UnmarshalAll(in, DecoderConfig{}); err != nil || len(out) != 2*n+1 {
			t.Errorf("%d empty strings and %d references: %d elements, %v", n, n+1, len(out), err)
		}
	}
}
