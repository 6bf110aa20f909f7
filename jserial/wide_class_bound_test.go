package jserial

import (
	"encoding/binary"
	"errors"
	"testing"

	"github.com/gotribes/tribes/internal/allocbound"
)

// wideObjects is a stream of objects of one class with fields boolean fields (each
// named z), the first object writing the descriptor and each other one referring to
// it: a byte of data per field, where its value takes 16 bytes.
func wideObjects(fields, objects int) []byte {
	b := header(tcObject, tcClassDesc, 0, 1, 'W', 0, 0, 0, 0, 0, 0, 0, 1, SCSerializable)
	b = binary.BigEndian.AppendUint16(b, uint16(fields))
	for range fields {
		b = append(b, 'Z', 0, 1, 'z')
	}
	b = append(b, tcEndBlockData, tcNull)
	for i := range objects {
		if i > 0 {
			b = append(b, tcObject, tcReference, 0, 0x7e, 0, 0)
		}
		for range fields {
			b = append(b, 1)
		}
	}
	return b
}

// TestWideClassBoundedFromReader: objects of a class with many fields, a byte of data
// each, decoded from an io.Reader allocate no more than decoded whole and end the same
// way (every object, or ErrLimit at the same one). Before, the values beyond a class's
// first 1024 were appended without counting in the objects' budget, their slice growing
// a quarter at a time: 80.6 times the stream for 65 535 boolean fields, 15.3 whole.
func TestWideClassBoundedFromReader(t *testing.T) {
	allocbound.WithoutRace(t)
	for _, fields := range []int{1500, 20_000, 65_535} {
		in := wideObjects(fields, 2_000_000/fields)
		var whole, streamed int
		var wholeErr, streamedErr error
		w := allocbound.Check(t, decodeBound, [][]byte{in}, func(b []byte) {
			vs, err := UnmarshalAll(b, DecoderConfig{})
			whole, wholeErr = len(vs), err
		})
		r := allocbound.Check(t, decodeBound, [][]byte{in}, func(b []byte) {
			d, err := NewDecoder(&chunkReader{b: b, n: 4096}, DecoderConfig{})
			if err != nil {
				t.Fatal(err)
			}
			streamed, streamedErr = 0, nil
			for {
				if _, err := d.Decode(); err != nil {
					if !errors.Is(err, ErrTruncated) || streamed == 0 {
						streamedErr = err
					}
					return
				}
				streamed++
			}
		})
		t.Logf("%d fields: %d bytes, %.1f times whole, %.1f from a Reader", fields, len(in), w.Ratio, r.Ratio)
		if whole != streamed || !errors.Is(streamedErr, ErrLimit) != !errors.Is(wholeErr, ErrLimit) {
			t.Errorf("%d fields: %d objects (%v) whole, %d (%v) from a Reader", fields, whole, wholeErr, streamed, streamedErr)
		}
		if r.Bytes > w.Bytes+w.Bytes/4+64<<10 {
			t.Errorf("%d fields: %d bytes allocated from a Reader, %d whole", fields, r.Bytes, w.Bytes)
		}
	}
}

// TestWideClassDescriptorBoundedFromReader: a descriptor of 65 535 fields (4 bytes each)
// read from an io.Reader allocates its field list once, as from bytes; appended beyond
// its first 1 024 fields, it took 45.9 times the stream (11.2 from bytes).
func TestWideClassDescriptorBoundedFromReader(t *testing.T) {
	in := wideObjects(65_535, 1)
	w := allocbound.Check(t, decodeBound, [][]byte{in}, func(b []byte) {
		if _, err := UnmarshalAll(b, DecoderConfig{}); err != nil {
			t.Fatal(err)
		}
	})
	r := allocbound.Check(t, decodeBound, [][]byte{in}, func(b []byte) {
		d, err := NewDecoder(&chunkReader{b: b, n: 4096}, DecoderConfig{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := d.Decode(); err != nil {
			t.Fatal(err)
		}
	})
	if r.Bytes > w.Bytes+w.Bytes/4+64<<10 {
		t.Errorf("%d bytes allocated from a Reader, %d whole", r.Bytes, w.Bytes)
	}
}
