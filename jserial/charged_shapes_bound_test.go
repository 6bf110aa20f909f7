package jserial

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"

	"github.com/gotribes/tribes/internal/allocbound"
)

// budgetFiller is a stream's part (no header) of objects of a class with a writeObject
// method whose annotation holds 257 TC_NULLs: each takes 264 bytes and is charged 72.9
// times them, its values' arrays grown by doubling to sizes the runtime rounds up (4 096
// bytes and a header take 4 864, 8 192 take 9 472). Its class descriptor is handle h.
func budgetFiller(objects, h int) []byte {
	const per = 257
	b := annotated("writeObject", bytes.Repeat([]byte{tcNull}, per))[4:]
	for range objects - 1 {
		b = append(b, tcObject, tcReference)
		b = binary.BigEndian.AppendUint32(b, uint32(baseWireHandle+h))
		b = append(append(b, bytes.Repeat([]byte{tcNull}, per)...), tcEndBlockData)
	}
	return b
}

// marshalBody is v's stream without its header.
func marshalBody(t *testing.T, v any) []byte {
	t.Helper()
	b, err := Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b[4:]
}

// TestElementArraysAndDescriptorsCharged: the arrays decoding allocates for an
// element of a byte or three (an Object[]'s elements, an ArrayList's or a HashSet's, a
// HashMap's entries: 16 bytes a TC_NULL; a class descriptor's fields: 40 bytes for three)
// and the class descriptors (128 bytes for 17) count in the stream's objects' budget,
// so that a stream of them beside objects that fill the budget allocates at most
// decodeBound, decoded or refused with ErrLimit, decoded whole or from a Reader. Before,
// they were not counted: a stream whose objects took the budget whole (objects whose
// writeObject annotations of 257 TC_NULLs each are charged 72.9 times their bytes) with
// an Object[], an ArrayList or a HashMap of TC_NULLs beside them allocated up to 56.5
// times it, 57.0 from a Reader, over the documented 56 times plus 128 KiB.
func TestElementArraysAndDescriptorsCharged(t *testing.T) {
	allocbound.WithoutRace(t)
	const objects = 1 << 20 / 258
	shapes := map[string]func(n int) []byte{
		"Object[]": func(n int) []byte {
			b := []byte{tcArray, tcClassDesc, 0, 4, '[', 'L', 'A', ';', 0, 0, 0, 0, 0, 0, 0, 1, SCSerializable, 0, 0, tcEndBlockData, tcNull}
			b = binary.BigEndian.AppendUint32(b, uint32(n))
			return append(b, bytes.Repeat([]byte{tcNull}, n)...)
		},
		"ArrayList": func(n int) []byte { return marshalBody(t, make([]any, n)) },
		"HashSet":   func(n int) []byte { return marshalBody(t, &Set{Elems: make([]any, n)}) },
		"HashMap":   func(n int) []byte { return marshalBody(t, &Map{Entries: make([]Entry, n/2)}) },
		"field lists": func(n int) []byte {
			var b []byte
			for nf := 0; len(b)+3 < n; n -= 3 * nf {
				nf = min(65535, (n-len(b))/3)
				b = append(b, tcClassDesc, 0, 1, 'F', 0, 0, 0, 0, 0, 0, 0, 1, SCSerializable)
				b = binary.BigEndian.AppendUint16(b, uint16(nf))
				b = append(append(b, bytes.Repeat([]byte{'Z', 0, 0}, nf)...), tcEndBlockData, tcNull)
			}
			return b
		},
		"class descriptors": func(n int) []byte {
			var b []byte
			for len(b) < n {
				b = append(b, tcClass)
				for range 900 {
					b = append(b, tcClassDesc, 0, 1, 'D', 0, 0, 0, 0, 0, 0, 0, 1, SCSerializable, 0, 0, tcEndBlockData)
				}
				b = append(b, tcNull)
			}
			return b
		},
	}
	filler := len(budgetFiller(objects, 0))
	var inputs [][]byte
	for name, shape := range shapes {
		for _, f := range []float64{0.30, 0.34, 0.38, 0.42} {
			b := shape(int(f * float64(filler)))
			d, err := newBytesDecoder(append(header(), b...), DecoderConfig{})
			if err != nil {
				t.Fatal(err)
			}
			for err == nil {
				_, err = d.Decode()
			}
			if err != io.EOF {
				t.Fatalf("%s: %v", name, err)
			}
			inputs = append(inputs, append(append(header(), b...), budgetFiller(objects, len(d.handles))...))
		}
	}
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
}
