package interceptors

import (
	"bytes"
	"errors"
	"runtime"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// streamedZstd returns a zstd frame of size zero bytes written as a stream: its header
// has no content size, so nothing announces what it expands to (8 MiB take 1.7 KB).
func streamedZstd(t testing.TB, size int) []byte {
	t.Helper()
	var b bytes.Buffer
	zw, err := zstd.NewWriter(&b, zstd.WithEncoderConcurrency(1))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := zw.Write(make([]byte, size)); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	var h zstd.Header
	if err := h.Decode(b.Bytes()); err != nil || h.HasFCS {
		t.Fatalf("streamed frame: header %+v, %v", h, err)
	}
	return b.Bytes()
}

// TestZstdStreamedBombAllocationBound: a frame without a content size is refused from its
// block headers before it is decoded: a 1.7 KB frame of 8 MiB costs little under a 64 KiB
// cap. (The bound is the codec's own, whatever its decoder's limit:
// TestZstdBoundIndependentOfDecoderLimit.)
func TestZstdStreamedBombAllocationBound(t *testing.T) {
	const limit = 1 << 16
	z, err := NewZstd(ZstdConfig{MaxDecompressedSize: limit})
	if err != nil {
		t.Fatal(err)
	}
	frame := streamedZstd(t, 8<<20)
	if _, err := z.codec.decompress(frame, limit); err != nil { // warm the decoder
		if !errors.Is(err, ErrDecompressedTooLarge) {
			t.Fatalf("err = %v, want ErrDecompressedTooLarge", err)
		}
	}
	var a, b runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&a)
	_, err = z.codec.decompress(frame, limit)
	runtime.ReadMemStats(&b)
	if !errors.Is(err, ErrDecompressedTooLarge) {
		t.Fatalf("err = %v, want ErrDecompressedTooLarge", err)
	}
	if got := b.TotalAlloc - a.TotalAlloc; got > limit+peakSlack {
		t.Fatalf("a %d-byte frame of 8 MiB, cap %d: %d bytes allocated", len(frame), limit, got)
	}
}
