package interceptors

import (
	"bytes"
	"errors"
	"math/rand"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// farReferenceStream is a frame without a content size and a window of 8 MiB whose last
// part repeats its first 300 KB after 1 MB of other random bytes: its matches reach back
// 1.3 MB, past the window it is decoded under below its size.
func farReferenceStream(t *testing.T) (frame, content []byte) {
	t.Helper()
	r := rand.New(rand.NewSource(5))
	head := make([]byte, 300_000)
	mid := make([]byte, 1_000_000)
	r.Read(head)
	r.Read(mid)
	content = append(append(append([]byte(nil), head...), mid...), head...)
	var b bytes.Buffer
	w, err := zstd.NewWriter(&b, zstd.WithEncoderConcurrency(1), zstd.WithWindowSize(8<<20),
		zstd.WithEncoderLevel(zstd.SpeedBetterCompression))
	if err != nil {
		t.Fatal(err)
	}
	w.Write(content)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	frame = b.Bytes()
	var h zstd.Header
	if err := h.Decode(frame); err != nil || h.HasFCS || h.WindowSize != 8<<20 {
		t.Fatalf("header %+v, %v", h, err)
	}
	if len(frame) > len(content)-200_000 {
		t.Fatalf("a %d-byte frame of %d: the repeat was not matched", len(frame), len(content))
	}
	return frame, content
}

// TestZstdNarrowedFarReference: a frame whose matches reach back further than the window
// it is decoded under (what is left under the cap, narrowed) decodes to its exact bytes
// under caps of its size and more, and is refused with ErrDecompressedTooLarge (not
// ErrCorrupt, and never with other bytes) under every cap below its size, down to
// caps where the far match comes in the first block past the narrowed window.
func TestZstdNarrowedFarReference(t *testing.T) {
	frame, content := farReferenceStream(t)
	n := len(content)
	caps := []int{n, n + 1, n + 100_000, 8 << 20, DefaultMaxDecompressedSize}
	for c := n - 1; c > 1_100_000; c -= 37_000 {
		caps = append(caps, c)
	}
	caps = append(caps, 1<<20, 1_300_000, 1_300_001, 1_299_999)
	for _, limit := range caps {
		z, _ := NewZstd(ZstdConfig{MaxDecompressedSize: limit})
		out, err := z.codec.decompress(frame, limit)
		switch {
		case limit >= n:
			if err != nil || !bytes.Equal(out, content) {
				t.Errorf("cap %d, %d bytes: %d bytes, %v, want them all", limit, n, len(out), err)
			}
		case err == nil:
			t.Errorf("cap %d, %d bytes: %d bytes (equal to its first ones: %v), want ErrDecompressedTooLarge",
				limit, n, len(out), bytes.Equal(out, content[:min(len(out), n)]))
		case !errors.Is(err, ErrDecompressedTooLarge) || errors.Is(err, ErrCorrupt):
			t.Errorf("cap %d, %d bytes: %v, want ErrDecompressedTooLarge", limit, n, err)
		}
	}
}

// TestZstdNarrowedCorruptChecksum: a frame decoded under a narrowed window whose content
// is within the cap and whose checksum is wrong is corrupt, not too large: the narrowing
// changed none of its bytes.
func TestZstdNarrowedCorruptChecksum(t *testing.T) {
	frame := window128MiB(t, flushedZstd(t, zstdPayload(100<<10), 10_000))
	var h zstd.Header
	if err := h.Decode(frame); err != nil || h.HasFCS || !h.HasCheckSum {
		t.Fatalf("header %+v, %v", h, err)
	}
	bad := bytes.Clone(frame)
	bad[len(bad)-1] ^= 0xff
	for _, limit := range []int{100 << 10, 200 << 10, 1 << 20} {
		z, _ := NewZstd(ZstdConfig{MaxDecompressedSize: limit})
		if out, err := z.codec.decompress(frame, limit); err != nil || len(out) != 100<<10 {
			t.Fatalf("cap %d: the good frame: %d bytes, %v", limit, len(out), err)
		}
		if _, err := z.codec.decompress(bad, limit); !errors.Is(err, ErrCorrupt) || errors.Is(err, ErrDecompressedTooLarge) {
			t.Errorf("cap %d: a wrong checksum: %v, want ErrCorrupt", limit, err)
		}
	}
}

// TestZstdNarrowedAfterAnnouncedFrameBound: a bomb of compressed blocks making 64 MiB
// with a 128 MiB window and no content size (decoded under a narrowed window; an RLE
// bomb is refused by the header walk before), alone and after a frame announcing a
// small size, is refused having allocated at most the cap and peakSlack (and an eighth
// of what is left where the header cannot name it as a window): the buffer is allocated
// once for both frames, not grown by a copy for the second (2.3 times the cap before).
func TestZstdNarrowedAfterAnnouncedFrameBound(t *testing.T) {
	bomb := window128MiB(t, streamedZstdWindow(t, 64<<20, 1<<20))
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
	if err != nil {
		t.Fatal(err)
	}
	for _, limit := range []int{1 << 20, 8 << 20} {
		for _, head := range []int{0, 2 << 10, 100 << 10} {
			msg := bomb
			if head > 0 {
				msg = append(enc.EncodeAll(zstdPayload(head), nil), bomb...)
			}
			z, _ := NewZstd(ZstdConfig{MaxDecompressedSize: limit})
			z.codec.decompress(msg, limit) // warm the decoders
			got := allocated(func() { _, err = z.codec.decompress(msg, limit) })
			if !errors.Is(err, ErrDecompressedTooLarge) {
				t.Fatalf("cap %d, head %d: %v, want ErrDecompressedTooLarge", limit, head, err)
			}
			// What is left after 2 KB is under the next window the header names of
			// it (the cap): the cap's buffer; after 100 KB it names one at most an
			// eighth larger.
			most := uint64(limit) + peakSlack
			if head > 2<<10 {
				most += uint64(limit-head) / 8
			}
			t.Logf("cap %d, head %d, a %d-byte bomb: %d bytes allocated", limit, head, len(bomb), got)
			if got > most {
				t.Errorf("cap %d: a frame of %d bytes, then a narrowed bomb: %d bytes allocated, want at most %d", limit, head, got, most)
			}
		}
	}
}
