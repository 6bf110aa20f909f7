package jserial

import (
	"errors"
	"testing"

	"github.com/gotribes/tribes/internal/allocbound"
)

// writeMethodBound is what decoding objects of class hierarchies whose classes each have
// a writeObject method and no field may allocate (doc.go, docs/security.md): a byte of
// data a class (its TC_ENDBLOCKDATA), for a Slot of 32 bytes.
var writeMethodBound = allocbound.Bound{K: 40, C: 128 << 10}

// TestWriteMethodHierarchiesBounded: streams of objects of hierarchies of 1 to 900
// classes with a writeObject method and no field each (each object after the first 6
// bytes and a byte a class), as a hostile peer crafts them, allocate at most
// writeMethodBound decoded whole or from a Reader, decoded or refused (36.9 times at
// worst, at 129 classes, whose slots the allocator rounds up to a size class). Before, their
// slots were allocated 8 (or as many as 16 bytes a byte of their data paid for) ahead of
// the data and grown, the first array left to the collector: at 10 classes an object
// allocated 18 Slots for 10, the objects' budget refused the stream at 32 times and
// decoding had allocated 40.5 times it by then.
func TestWriteMethodHierarchiesBounded(t *testing.T) {
	allocbound.WithoutRace(t)
	var inputs [][]byte
	for _, depth := range []int{1, 2, 3, 4, 8, 9, 10, 12, 16, 17, 20, 33, 48, 64, 100, 129, 257, 300, 513, 900} {
		inputs = append(inputs, deepObjects(depth, 200_000/(depth+6), true))
	}
	r := allocbound.Check(t, writeMethodBound, inputs, func(b []byte) {
		if _, err := UnmarshalAll(b, DecoderConfig{}); err != nil && !errors.Is(err, ErrLimit) {
			t.Errorf("%d bytes: %v", len(b), err)
		}
	})
	t.Logf("whole: %.1f times at worst", r.Ratio)
	r = allocbound.Check(t, writeMethodBound, inputs, func(b []byte) {
		d, err := NewDecoder(&chunkReader{b: b, n: 4096}, DecoderConfig{})
		if err != nil {
			t.Fatal(err)
		}
		for {
			if _, err := d.Decode(); err != nil {
				return
			}
		}
	})
	t.Logf("from a Reader: %.1f times at worst", r.Ratio)
}
