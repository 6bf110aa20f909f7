package jserial

import (
	"runtime"
	"slices"
	"testing"
	"unsafe"
)

var sizeSink []*int

// TestSizeClasses: allocSize is what the runtime counts (MemStats.TotalAlloc) for an
// allocation holding pointers, of every size up to 40 KiB, on 64-bit and 32-bit
// platforms (where a pointer takes 4 bytes and the header holds from 128 bytes: allocSize
// took it for 512 there, as on 64-bit ones, and charged 144 bytes of 9 Slots that
// allocated 160).
func TestSizeClasses(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	const ptr = int(unsafe.Sizeof(uintptr(0)))
	var before, after runtime.MemStats
	for m := 1; m <= 40<<10/ptr; m++ {
		got := uint64(1 << 62)
		for range 3 { // the least of a few: another goroutine may allocate meanwhile
			runtime.ReadMemStats(&before)
			sizeSink = make([]*int, m)
			runtime.ReadMemStats(&after)
			got = min(got, after.TotalAlloc-before.TotalAlloc)
		}
		if got != uint64(allocSize(ptr*m)) {
			t.Fatalf("allocSize(%d) = %d, the runtime counts %d", ptr*m, allocSize(ptr*m), got)
		}
	}
	sizeSink = nil
}

// objectCharge decodes the first element of in, then the second, an object whose class
// descriptors the first read, and returns what the decoder charged to the objects'
// budget for it and what it allocated (the least of a few runs, with GOMAXPROCS 1 and
// room in the handle table: the object's own allocations only).
func objectCharge(t *testing.T, in []byte) (charged, allocated uint64) {
	t.Helper()
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	var before, after runtime.MemStats
	for i := range 5 {
		d, err := newBytesDecoder(in, DecoderConfig{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := d.Decode(); err != nil {
			t.Fatal(err)
		}
		d.handles = slices.Grow(d.handles, 16)
		b := d.objBytes
		runtime.ReadMemStats(&before)
		_, err = d.Decode()
		runtime.ReadMemStats(&after)
		if err != nil {
			t.Fatal(err)
		}
		if got := after.TotalAlloc - before.TotalAlloc; i == 0 || got < allocated {
			allocated = got
		}
		charged = uint64(d.objBytes - b)
	}
	return charged, allocated
}

// TestObjectChargeIsWhatItAllocates: what an object is charged in the stream's objects'
// budget is what decoding it allocates, as the runtime counts it: an Object of 56 bytes
// was charged 56 and allocated 64, 100 Slots charged 3 200 bytes and allocated 3 456
// (the size class of their bytes and a header), and every object allocated the name
// of its data's room check ("C0 data", 16 bytes), needed only for an error.
func TestObjectChargeIsWhatItAllocates(t *testing.T) {
	for _, c := range []struct {
		depth       int
		writeMethod bool
	}{{1, false}, {4, false}, {9, false}, {17, false}, {100, false}, {500, false}, {10, true}, {100, true}} {
		charged, allocated := objectCharge(t, deepObjects(c.depth, 1, c.writeMethod))
		if charged != allocated {
			t.Errorf("an object of a hierarchy of %d classes (writeObject %v): charged %d bytes, allocated %d",
				c.depth, c.writeMethod, charged, allocated)
		}
	}
}
