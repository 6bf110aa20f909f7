package jserial

import (
	"errors"
	"fmt"
	"io"
	"testing"
	"unsafe"
)

// TestDeepHierarchiesOverTheBudget: objects of hierarchies of 48 to 998 classes with a
// boolean each, which Java reads, take 45.1 to 55.6 times their stream in Object, Slots
// and Values, as the runtime allocates them (the charge is the allocation: its size
// classes and headers round the slots and values up): 48 and 51 classes 2 752 bytes an
// object (51.0 and 48.3 times), 216 classes 12 352 (55.6 times). A stream of objects
// that take more than the objects' budget of 52 times (216 classes) is refused with
// ErrLimit, from bytes and from a Reader, and one of 51 classes decodes (the package
// doc's figures); 999 classes nest deeper than MaxDepth. The objects of 178 of the
// depths from 48 to 998 take more than 52 times their stream. The figures are those of
// 64-bit platforms.
func TestDeepHierarchiesOverTheBudget(t *testing.T) {
	if _, err := UnmarshalAll(deepObjects(999, 1, false), DecoderConfig{}); !errors.Is(err, ErrLimit) {
		t.Errorf("an object of 999 classes: %v, want ErrLimit (MaxDepth)", err)
	}
	if unsafe.Sizeof(uintptr(0)) != 8 {
		return // the figures are those of 64-bit platforms, where a pointer takes 8 bytes
	}
	for _, c := range []struct{ depth, bytes int }{{48, 2752}, {51, 2752}, {216, 12352}} {
		charged, allocated := objectCharge(t, deepObjects(c.depth, 1, false))
		if charged != uint64(c.bytes) || allocated != uint64(c.bytes) {
			t.Errorf("an object of %d classes: charged %d bytes, allocated %d, want %d", c.depth, charged, allocated, c.bytes)
		}
		t.Logf("%d classes: %d bytes for %d, %.1f times", c.depth, c.bytes, c.depth+6, float64(c.bytes)/float64(c.depth+6))
	}
	// Over every depth from 48 to 998 (allocSize is what the runtime allocates:
	// TestSizeClasses), from 45.1 times (55 classes) to 55.6 (216), and over the budget
	// for 178 depths.
	lo, hi, over := 100.0, 0.0, 0
	for depth := 48; depth <= 998; depth++ {
		r := float64(allocSize(int(unsafe.Sizeof(Object{})))+allocSize(slotSize*depth)+allocSize(valueSize*depth)) / float64(depth+6)
		lo, hi = min(lo, r), max(hi, r)
		if r > objectRate {
			over++
		}
	}
	if fmt.Sprintf("%.1f %.1f %d", lo, hi, over) != "45.1 55.6 178" {
		t.Errorf("objects of 48 to 998 classes take %.1f to %.1f times their stream, %d depths over %d times; the doc says 45.1 to 55.6, 178",
			lo, hi, over, objectRate)
	}
	decode := func(in []byte) (whole, reader error) {
		_, whole = UnmarshalAll(in, DecoderConfig{})
		d, err := NewDecoder(&chunkReader{b: in, n: 4096}, DecoderConfig{})
		if err != nil {
			t.Fatal(err)
		}
		for reader == nil {
			_, reader = d.Decode()
		}
		if reader == io.EOF {
			reader = nil
		}
		return whole, reader
	}
	if whole, reader := decode(deepObjects(216, 400_000/222, false)); !errors.Is(whole, ErrLimit) || !errors.Is(reader, ErrLimit) {
		t.Errorf("objects of 216 classes with a boolean each: %v, from a Reader %v; want ErrLimit", whole, reader)
	}
	if whole, reader := decode(deepObjects(51, 400_000/57, false)); whole != nil || reader != nil {
		t.Errorf("objects of 51 classes with a boolean each: %v, from a Reader %v", whole, reader)
	}
}
