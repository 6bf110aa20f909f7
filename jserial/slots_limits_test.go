package jserial

import (
	"bytes"
	"encoding/binary"
	"errors"
	"runtime"
	"testing"
)

// slotsStream returns a stream of an Object[] holding an Object[] of n class
// descriptors, each the Serializable subclass (with a writeObject method, no fields) of
// the one before, and depth objects of the last class, each nested in the first
// writeObject annotation of the one before. Every object's data is n TC_ENDBLOCKDATA
// bytes (one per class), and each becomes n Slots of 32 bytes.
func slotsStream(n, depth int) []byte {
	b := header(tcArray, tcClassDesc, 0, 19)
	b = append(b, "[Ljava.lang.Object;"...)
	b = append(b, 0x90, 0xCE, 0x58, 0x9F, 0x10, 0x73, 0x29, 0x6C, SCSerializable, 0, 0, tcEndBlockData, tcNull)
	b = binary.BigEndian.AppendUint32(b, 2) // handle 0: Object[] desc, 1: the outer array
	b = append(b, tcArray, tcReference, 0, 0x7e, 0, 0)
	b = binary.BigEndian.AppendUint32(b, uint32(n)) // handle 2: the inner array
	for i := range n {
		b = append(b, tcClassDesc, 0, 1, 'C', 0, 0, 0, 0, 0, 0, 0, 1, SCSerializable|SCWriteMethod, 0, 0, tcEndBlockData)
		if i == 0 {
			b = append(b, tcNull)
		} else {
			b = binary.BigEndian.AppendUint32(append(b, tcReference), uint32(baseWireHandle+3+i-1))
		}
	}
	last := uint32(baseWireHandle + 3 + n - 1)
	for range depth {
		b = binary.BigEndian.AppendUint32(append(b, tcObject, tcReference), last)
	}
	for range depth {
		for range n {
			b = append(b, tcEndBlockData)
		}
	}
	return b
}

// The package documents that a stream announcing more than it holds fails having
// allocated a small multiple of its size, and TestNestedLengthsBounded holds every such
// stream to 32 times its size (an element decoded takes up to 16 times its smallest
// encoding, a TC_NULL). An object's Slots take 32 bytes each but may be claimed one byte
// each (a writeObject class's TC_ENDBLOCKDATA): they are allocated ahead of their data
// at a slot a byte claimed (16 bytes a byte, and grown, before: objects of deep
// hierarchies took up to twice their slots), and a writeObject class's end stays claimed
// while its annotation is read, so that nested objects fail as soon as the data cannot
// be there: the stream one byte short allocates 32.1 times its size (a number of classes
// whose slots the allocator rounds up far, 513, takes 35.1). Before the claims,
// a stream one byte short allocated over 50 times its size. The whole
// stream, whose objects took 54 times its size when their slots were grown from 500 to
// 1000 and were refused (ErrLimit: the stream's objects' budget, TestClassDataBounded),
// takes 32 times now, its slots allocated once, and is decoded or refused; one object
// fewer deep is well formed and decodes.
func TestSlotsBounded(t *testing.T) {
	if _, err := Unmarshal(slotsStream(1000, 1)); err != nil {
		t.Fatalf("a stream of one object does not decode: %v", err)
	}
	in := slotsStream(1000, 900)
	if _, err := Unmarshal(in); err != nil && !errors.Is(err, ErrLimit) {
		t.Fatalf("the whole stream: %v, want nil or ErrLimit", err)
	}
	in = in[:len(in)-1] // announces one byte more than it holds
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err := Unmarshal(in)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrTruncated) && !errors.Is(err, ErrLimit) {
		t.Fatalf("got %v, want ErrTruncated or ErrLimit", err)
	}
	grew := after.TotalAlloc - before.TotalAlloc
	t.Logf("one byte short: %d bytes allocated for %d, %.1f times (%v)", grew, len(in), float64(grew)/float64(len(in)), err)
	if grew > 32*uint64(len(in))+1<<20 {
		t.Errorf("%d MiB allocated for %d KiB of input, %.0f times its size (%v)",
			grew>>20, len(in)>>10, float64(grew)/float64(len(in)), err)
	}
}

// Reading an io.Reader, the package documents that buffers grow only with the data
// received, at most 1024 elements of an array or collection are allocated ahead of
// them, and an object's fields and slots beyond that (or beyond what 16 bytes a byte of
// its data pays for) once their data's bytes have arrived. Class descriptors are cheap to chain (each the
// subclass of the one before, ~21 bytes each), and every object of the last class, 6
// bytes (TC_OBJECT and a reference), has a Slot of 32 bytes per class (56 then): before, they were
// all allocated ahead of the data, and 500 such objects nested in each other's first
// annotation after 5000 descriptors (108 KiB) allocated 140 MB (with MaxHandles'
// million descriptors and MaxDepth's 1000 levels, 56 GB).
func TestSlotsBoundedFromReader(t *testing.T) {
	const n, depth = 5000, 500
	full := slotsStream(n, depth)
	in := full[:len(full)-n*depth] // the descriptors and the object headers, no data
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	d, err := NewDecoder(bytes.NewReader(in), DecoderConfig{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = d.Decode()
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrTruncated) && !errors.Is(err, ErrLimit) { // ErrLimit: the objects' budget
		t.Fatalf("got %v, want ErrTruncated or ErrLimit", err)
	}
	// Generous: the whole-input bound, plus 1024 Slots ahead of the data at every level.
	bound := 32*uint64(len(in)) + depth*1024*56 + 1<<20
	if grew := after.TotalAlloc - before.TotalAlloc; grew > bound {
		t.Errorf("%d MiB allocated ahead of the data for %d KiB of input, %.0f times its size (%v)",
			grew>>20, len(in)>>10, float64(grew)/float64(len(in)), err)
	}
}
