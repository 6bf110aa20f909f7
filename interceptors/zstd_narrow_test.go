package interceptors

import (
	"bytes"
	"errors"
	"math/rand"
	"slices"
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

// zstdCompressedBlocks returns the offsets of the headers of the compressed blocks of
// frame, a single frame without a dictionary.
func zstdCompressedBlocks(t testing.TB, frame []byte) []int {
	t.Helper()
	var h zstd.Header
	if err := h.Decode(frame); err != nil {
		t.Fatal(err)
	}
	var starts []int
	for p, last := h.HeaderSize, false; !last; {
		bh := int(frame[p]) | int(frame[p+1])<<8 | int(frame[p+2])<<16
		last = bh&1 != 0
		in := bh >> 3
		switch bh >> 1 & 3 {
		case 1:
			in = 1 // RLE
		case 2:
			starts = append(starts, p)
		}
		p += 3 + in
	}
	return starts
}

// withZeroDictionaryID returns frame, which has no Dictionary_ID field, with a 1-byte one
// of 0 (no dictionary) after its Window_Descriptor.
func withZeroDictionaryID(t *testing.T, frame []byte) []byte {
	t.Helper()
	var h zstd.Header
	if err := h.Decode(frame); err != nil || h.SingleSegment || frame[4]&3 != 0 {
		t.Fatalf("header %+v, %v", h, err)
	}
	out := append(bytes.Clone(frame[:6]), 0)
	out[4] |= 1
	return append(out, frame[6:]...)
}

// narrowedFirstPass decodes frame, which has no content size, as decodeCapped first does
// under a cap of limit with nothing before it: under the smallest window its header names
// of at least limit, the decoder limited to that window. It returns what the blocks before
// the one that failed made, the window, and the error.
func narrowedFirstPass(t testing.TB, frame []byte, limit int) (int, uint64, error) {
	t.Helper()
	var h zstd.Header
	if err := h.Decode(frame); err != nil || h.HasFCS {
		t.Fatalf("header %+v, %v", h, err)
	}
	nf, w := zstdNarrowWindow(frame, h.WindowSize, uint64(max(limit, zstd.MinWindowSize)))
	d, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecodeAllCapLimit(true),
		zstd.WithDecoderMaxWindow(zstdMaxWindow), zstd.WithDecoderMaxMemory(w))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	out, err := d.DecodeAll(nf, make([]byte, 0, w+zstdMaxBlock+zstdOverAlloc))
	return len(out), w, err
}

// failsNearTheWindow tells whether a first pass's failure is one decodeCapped cannot
// tell from the decoder's error alone: not of the checksum nor of the size, in a block
// that starts within what is left and may end past the narrowed window.
func failsNearTheWindow(made int, w uint64, err error, limit int) bool {
	return err != nil && !errors.Is(err, zstd.ErrCRCMismatch) && !errors.Is(err, zstd.ErrDecoderSizeExceeded) &&
		uint64(made)+zstdMaxBlock > w && made <= limit
}

// TestZstdNarrowedFailureNearTheWindow: a frame decoded under a narrowed window that
// fails in a block which may end past that window is too large when that block makes
// more than what is left under its own window, and corrupt when it fails there too:
// klauspost's stream of 1 MiB with a 128 MiB window flushed every 100 KB, a byte of its
// last compressed block changed so that the decoder fails in it (not at the checksum), under caps
// of its size and one less is ErrCorrupt (ErrDecompressedTooLarge before: the failure
// was taken for a match past the window), and farReferenceStream, whose match 1.3 MB back
// fails under every such cap below its size, is ErrDecompressedTooLarge. Both first
// fail as the test requires under the narrowed window, checked here. The same with a
// Dictionary_ID field of 0 in their headers: the content size the recheck writes goes
// after it.
func TestZstdNarrowedFailureNearTheWindow(t *testing.T) {
	content := zstdPayload(1 << 20)
	good := window128MiB(t, flushedZstd(t, content, 100_000))
	starts := zstdCompressedBlocks(t, good)
	last := starts[len(starts)-1]
	end := last + 3 + (int(good[last])|int(good[last+1])<<8|int(good[last+2])<<16)>>3
	ref, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(zstdMaxWindow),
		zstd.WithDecoderMaxMemory(zstdMaxWindow))
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	if out, err := ref.DecodeAll(good, nil); err != nil || !bytes.Equal(out, content) {
		t.Fatalf("the good frame: %d bytes, %v", len(out), err)
	}
	// A byte of the last compressed block's sequences (read from its end) changed so
	// that the decoder under the frame's own window fails in that block.
	var bad []byte
	for i := end - 1; i > last+3 && bad == nil; i-- {
		b := bytes.Clone(good)
		b[i] ^= 0x5a
		if _, err := ref.DecodeAll(b, nil); err != nil && !errors.Is(err, zstd.ErrCRCMismatch) {
			bad = b
		}
	}
	if bad == nil {
		t.Fatal("no byte of the last block makes the decoder fail in it")
	}
	for _, dict := range []bool{false, true} {
		good, bad := good, bad
		if dict {
			good, bad = withZeroDictionaryID(t, good), withZeroDictionaryID(t, bad)
		}
		for _, limit := range []int{len(content), len(content) - 1} {
			made, w, err := narrowedFirstPass(t, bad, limit)
			if !failsNearTheWindow(made, w, err, limit) {
				t.Fatalf("dictionary field %v, cap %d: the corrupt frame's first pass: %d bytes, window %d, %v: want a failure near the window",
					dict, limit, made, w, err)
			}
			z, _ := NewZstd(ZstdConfig{MaxDecompressedSize: limit})
			if _, err := z.codec.decompress(bad, limit); !errors.Is(err, ErrCorrupt) || errors.Is(err, ErrDecompressedTooLarge) {
				t.Errorf("dictionary field %v, cap %d: a frame of %d bytes whose last block is corrupt: %v, want ErrCorrupt", dict, limit, len(content), err)
			}
			if out, err := z.codec.decompress(good, limit); limit >= len(content) && (err != nil || !bytes.Equal(out, content)) {
				t.Errorf("dictionary field %v, cap %d: the good frame: %d bytes, %v", dict, limit, len(out), err)
			}
		}
	}

	// Caps from 1 MiB up, and what the blocks before a failure made under one of them
	// (its first pass failed past what was left: under a cap of that, it may not).
	far, farContent := farReferenceStream(t)
	near := 0
	var caps []int
	for limit := 1 << 20; limit < len(farContent); limit += 4099 {
		caps = append(caps, limit)
		if made, _, err := narrowedFirstPass(t, far, limit); err != nil && made > limit && made < len(farContent) &&
			!slices.Contains(caps, made) {
			caps = append(caps, made)
		}
	}
	farDict := withZeroDictionaryID(t, far)
	for _, limit := range caps {
		made, w, err := narrowedFirstPass(t, far, limit)
		if !failsNearTheWindow(made, w, err, limit) {
			continue
		}
		near++
		z, _ := NewZstd(ZstdConfig{MaxDecompressedSize: limit})
		for _, f := range [][]byte{far, farDict} {
			if _, err := z.codec.decompress(f, limit); !errors.Is(err, ErrDecompressedTooLarge) || errors.Is(err, ErrCorrupt) {
				t.Errorf("cap %d: farReferenceStream (%d bytes, dictionary field %v), failing near the window of %d after %d bytes: %v, want ErrDecompressedTooLarge",
					limit, len(farContent), len(f) > len(far), w, made, err)
			}
		}
	}
	if near == 0 {
		t.Fatal("farReferenceStream fails near the window under no cap tried")
	}
	t.Logf("farReferenceStream failed near the narrowed window under %d caps", near)
}
