package jserial

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/gotribes/tribes/internal/allocbound"
)

// deepObjects is a stream of objects of one class whose hierarchy has depth classes, each
// with one boolean field (with writeMethod: none, and a writeObject method), the first
// object writing the descriptors and each other one referring to them: a byte of data
// per class, where its Slot takes 32 bytes and its value 16.
func deepObjects(depth, objects int, writeMethod bool) []byte {
	b := header(tcObject)
	for i := range depth {
		name := fmt.Sprintf("C%d", i)
		b = append(b, tcClassDesc)
		b = binary.BigEndian.AppendUint16(b, uint16(len(name)))
		b = append(b, name...)
		b = append(b, 0, 0, 0, 0, 0, 0, 0, 1)
		if writeMethod {
			b = append(b, SCSerializable|SCWriteMethod, 0, 0)
		} else {
			b = append(b, SCSerializable, 0, 1, 'Z', 0, 1, 'z')
		}
		b = append(b, tcEndBlockData)
	}
	b = append(b, tcNull)
	for i := range objects + 1 {
		if i > 0 {
			b = append(b, tcObject, tcReference, 0, 0x7e, 0, 0)
		}
		for range depth {
			if writeMethod {
				b = append(b, tcEndBlockData)
			} else {
				b = append(b, 1)
			}
		}
	}
	return b
}

// TestClassDataBounded: objects of deep hierarchies with a byte of data per class
// allocate at most decodeBound, decoded from bytes or a Reader (or fail with ErrLimit);
// before, their slots (grown by doubling) and values took 98 to 132 times the stream (a
// 1.8 MB stream, 242 MB). Objects of one boolean field, of hierarchies of 1 to 47
// classes with a boolean each (a Slot of 32 bytes and a value of 16 a byte, and their
// handles and values in UnmarshalAll's result: at most 50 times their stream, within the
// objects' budget of 52 times; nine and more were refused at its 32 times, and some of 33
// to 44 at its 48 times once the handles counted), or of a 4-level hierarchy with an int
// at each level decode, from bytes and from a Reader.
func TestClassDataBounded(t *testing.T) {
	allocbound.WithoutRace(t)
	for _, wm := range []bool{false, true} {
		for _, depth := range []int{4, 10, 48, 100, 900} {
			in := deepObjects(depth, 200_000/depth, wm)
			decode := func(b []byte) {
				if _, err := UnmarshalAll(b, DecoderConfig{}); err != nil && !errors.Is(err, ErrLimit) {
					t.Errorf("depth %d: %v", depth, err)
				}
			}
			r := allocbound.Check(t, decodeBound, [][]byte{in}, decode)
			t.Logf("writeObject %v, depth %d: %d bytes, %.1f times", wm, depth, len(in), r.Ratio)
			allocbound.Check(t, decodeBound, [][]byte{in}, func(b []byte) {
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
		}
	}
	// Objects of one boolean field (7 bytes each, 112 taken) decode, and so do objects of
	// hierarchies with a boolean (4 levels: 10 bytes, 256 taken; 9: 15 bytes, 496 taken;
	// 47: 53 bytes, 2 496 taken) or an int (4 levels: 22 bytes, 256 taken) at each level.
	for depth := 1; depth <= 47; depth++ {
		in := deepObjects(depth, 400_000/(depth+6), false)
		if _, err := UnmarshalAll(in, DecoderConfig{}); err != nil {
			t.Errorf("objects of a %d-level hierarchy with a boolean each: %v", depth, err)
		}
		if depth%8 != 1 && depth != 47 {
			continue
		}
		d, err := NewDecoder(&chunkReader{b: in, n: 4096}, DecoderConfig{})
		if err != nil {
			t.Fatal(err)
		}
		for {
			if _, err := d.Decode(); err == io.EOF {
				break
			} else if err != nil {
				t.Errorf("objects of a %d-level hierarchy with a boolean each from a Reader: %v", depth, err)
				break
			}
		}
	}
	ints := bytes.ReplaceAll(deepObjects(4, 100_000, false), []byte{0, 1, 'Z', 0, 1, 'z'}, []byte{0, 1, 'I', 0, 1, 'i'})
	ints = bytes.ReplaceAll(ints, []byte{1, 1, 1, 1}, make([]byte, 16))
	if _, err := UnmarshalAll(ints, DecoderConfig{}); err != nil {
		t.Errorf("objects of a 4-level hierarchy with ints: %v", err)
	}
}
