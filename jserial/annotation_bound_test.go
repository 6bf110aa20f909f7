package jserial

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/gotribes/tribes/internal/allocbound"
)

// annotated is a stream of one element whose annotation holds values, each a byte (a
// TC_NULL) or two (an empty TC_BLOCKDATA): an object of a class with a writeObject
// method and no field, an Externalizable object, or the class descriptor of an object.
func annotated(kind string, values []byte) []byte {
	desc := func(flags byte) []byte {
		b := []byte{tcClassDesc, 0, 1, 'A', 0, 0, 0, 0, 0, 0, 0, 1, flags, 0, 0}
		return append(b, tcEndBlockData, tcNull)
	}
	b := header(tcObject)
	switch kind {
	case "writeObject":
		b = append(append(append(b, desc(SCSerializable|SCWriteMethod)...), values...), tcEndBlockData)
	case "external":
		b = append(append(append(b, desc(SCExternalizable|SCBlockData)...), values...), tcEndBlockData)
	case "class":
		b = append(b, tcClassDesc, 0, 1, 'A', 0, 0, 0, 0, 0, 0, 0, 1, SCSerializable, 0, 0)
		b = append(append(b, values...), tcEndBlockData, tcNull)
	}
	return b
}

// TestAnnotationValuesBounded: the values of an annotation (what a writeObject or
// writeExternal method wrote, a class descriptor's annotation), a 16-byte value for each
// byte of a TC_NULL, allocate at most decodeBound decoded whole or from a Reader,
// decoded or refused with ErrLimit. Before, they were grown by append outside the
// objects' budget, each growth by a quarter leaving the last array to the collector: an
// annotation of 100 000 TC_NULLs allocated 89 times its stream.
func TestAnnotationValuesBounded(t *testing.T) {
	allocbound.WithoutRace(t)
	var inputs [][]byte
	for _, n := range []int{1000, 100_000, 1<<17 + 1} {
		nulls := bytes.Repeat([]byte{tcNull}, n)
		empties := bytes.Repeat([]byte{tcBlockData, 0}, n/2)
		for _, kind := range []string{"writeObject", "external", "class"} {
			inputs = append(inputs, annotated(kind, nulls), annotated(kind, empties))
		}
	}
	check := func(what string, err error) {
		if err != nil && !errors.Is(err, ErrLimit) {
			t.Errorf("%s: %v", what, err)
		}
	}
	r := allocbound.Check(t, decodeBound, inputs, func(b []byte) {
		_, err := UnmarshalAll(b, DecoderConfig{})
		check("whole", err)
	})
	t.Logf("whole: %.1f times at worst", r.Ratio)
	r = allocbound.Check(t, decodeBound, inputs, func(b []byte) {
		d, err := NewDecoder(&chunkReader{b: b, n: 4096}, DecoderConfig{})
		if err != nil {
			t.Fatal(err)
		}
		_, err = d.Decode()
		check("from a Reader", err)
	})
	t.Logf("from a Reader: %.1f times at worst", r.Ratio)
	// An annotation of values that take more than a byte each, as Java writes them,
	// decodes: 100 000 references to its object (5 bytes each).
	refs := bytes.Repeat(binary.BigEndian.AppendUint32([]byte{tcReference}, baseWireHandle+1), 100_000)
	for _, kind := range []string{"writeObject", "external"} {
		if _, err := Unmarshal(annotated(kind, refs)); err != nil {
			t.Errorf("%s annotation of 100 000 references: %v", kind, err)
		}
	}
}
