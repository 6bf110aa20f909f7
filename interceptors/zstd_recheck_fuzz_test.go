package interceptors

import (
	"bytes"
	"errors"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// FuzzZstdRecheck aims at recheckNarrowed: b is a message decoded under small caps (its
// frames without a content size and a window past what is left narrowed, and rechecked
// where they fail near that window), and its first frame, when nextZstdFrame takes it
// without a content size, is narrowed and rechecked directly with made bytes before it,
// as decodeCapped would. Neither panics, returns more than the cap, or (the direct call)
// returns more than what was left or other than an error wrapping ErrCorrupt or
// ErrDecompressedTooLarge.
func FuzzZstdRecheck(f *testing.F) {
	content := zstdPayload(40 << 10)
	good := flushedZstd(f, content, 5000)
	good[5] = 17 << 3 // a 128 MiB window, as window128MiB
	f.Add(good, uint16(20<<10), uint32(0))
	f.Add(good, uint16(40<<10), uint32(len(content)))
	bad := bytes.Clone(good)
	bad[len(bad)-10] ^= 0x5a
	f.Add(bad, uint16(39<<10), uint32(30<<10))
	f.Add(append(bytes.Clone(good), good...), uint16(50<<10), uint32(1000))
	ref, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecodeAllCapLimit(true),
		zstd.WithDecoderMaxWindow(zstdMaxWindow))
	if err != nil {
		f.Fatal(err)
	}
	caps := []int{1 << 10, 4 << 10, 33 << 10, 64 << 10}
	codecs := make([]codec, len(caps))
	for i, c := range caps {
		z, _ := NewZstd(ZstdConfig{MaxDecompressedSize: c})
		codecs[i] = z.codec
	}
	f.Fuzz(func(t *testing.T, b []byte, least uint16, made uint32) {
		for i, c := range caps {
			if out, err := codecs[i].decompress(b, c); err == nil && len(out) > c {
				t.Fatalf("cap %d: %d bytes", c, len(out))
			}
		}
		fr, err := nextZstdFrame(b, 0, 1<<20)
		if err != nil || fr.h.Skippable || fr.h.HasFCS {
			return
		}
		want := uint64(max(least, zstd.MinWindowSize))
		if fr.h.WindowSize <= want {
			return
		}
		frame, w := zstdNarrowWindow(b[:fr.n], fr.h.WindowSize, want)
		if w >= fr.h.WindowSize {
			return
		}
		left := w
		m := uint64(made) % (left + zstdMaxBlock)
		out := make([]byte, 3+m, 3+w+zstdMaxBlock+zstdOverAlloc)
		got, err := recheckNarrowed(ref, frame, b[5], fr.h.HeaderSize, out, 3, left, 0, errors.New("first pass"))
		switch {
		case err == nil && uint64(len(got)-3) > left:
			t.Fatalf("rechecked: %d bytes, %d left", len(got)-3, left)
		case err != nil && !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrDecompressedTooLarge):
			t.Fatalf("rechecked: %v", err)
		}
	})
}
