package interceptors

import (
	"encoding/binary"
	"errors"
	"runtime"
	"testing"
)

// A zstd frame whose header announces more than its length can expand to is refused
// before the decoder allocates for it: a 9-byte header announcing 64 MiB made it allocate
// 67 MB. The densest frame there is (RLE blocks of 128 KiB, 4 bytes each) still decodes.
func TestZstdAnnouncedSizeBounded(t *testing.T) {
	z, err := NewZstd(ZstdConfig{})
	if err != nil {
		t.Fatal(err)
	}
	const size = DefaultMaxDecompressedSize
	header := binary.LittleEndian.AppendUint32([]byte{0x28, 0xB5, 0x2F, 0xFD, 0xA0}, size) // 4-byte content size, single segment
	var a, b runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&a)
	_, err = z.codec.decompress(header, size)
	runtime.ReadMemStats(&b)
	if !errors.Is(err, ErrCorrupt) {
		t.Errorf("a bare header announcing %d bytes: %v, want ErrCorrupt", size, err)
	}
	if got := b.TotalAlloc - a.TotalAlloc; got > 1<<20 {
		t.Errorf("a %d-byte header: %d bytes allocated", len(header), got)
	}

	rle := header
	for i := range size / (128 << 10) {
		h := uint32(128<<10)<<3 | 1<<1 // an RLE block of 128 KiB
		if i == size/(128<<10)-1 {
			h |= 1 // the last
		}
		rle = append(rle, byte(h), byte(h>>8), byte(h>>16), 7)
	}
	out, err := z.codec.decompress(rle, size)
	if err != nil || len(out) != size || out[size-1] != 7 {
		t.Fatalf("the densest frame (%d bytes): %d bytes, %v", len(rle), len(out), err)
	}
}
