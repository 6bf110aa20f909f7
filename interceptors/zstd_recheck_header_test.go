package interceptors

import (
	"bytes"
	"errors"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// withDictionaryIDField returns frame, which has a Window_Descriptor and no
// Dictionary_ID field, with one of size bytes (0, 1, 2 or 4) holding 0 (no dictionary)
// after its Window_Descriptor, Dictionary_ID_Flag set to match.
func withDictionaryIDField(t *testing.T, frame []byte, size int) []byte {
	t.Helper()
	var h zstd.Header
	if err := h.Decode(frame); err != nil || h.SingleSegment || frame[4]&3 != 0 {
		t.Fatalf("header %+v, %v", h, err)
	}
	flag := map[int]byte{0: 0, 1: 1, 2: 2, 4: 3}[size]
	out := append(bytes.Clone(frame[:6]), make([]byte, size)...)
	out[4] |= flag
	return append(out, frame[6:]...)
}

// TestZstdRecheckHeaderEveryField: the header recheckNarrowed writes (an 8-byte content
// size after the Window_Descriptor and any Dictionary_ID field, the frame's own
// Window_Descriptor back) is a valid one for every Dictionary_ID field size (0, 1, 2, 4
// bytes, of 0) with and without a checksum: a narrowed copy of such a frame, rechecked
// with what it makes as made and as what is left (the content size written), decodes to
// its exact content (a wrong field or offset fails the decoder or the checksum, or changes
// the bytes); one byte less of both is too large (the decoder stopped by the content
// size, not failing on the header).
func TestZstdRecheckHeaderEveryField(t *testing.T) {
	content := zstdPayload(300 << 10)
	for _, crc := range []bool{true, false} {
		var b bytes.Buffer
		enc, err := zstd.NewWriter(&b, zstd.WithEncoderConcurrency(1), zstd.WithWindowSize(1<<20), zstd.WithEncoderCRC(crc))
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < len(content); i += 100_000 {
			enc.Write(content[i:min(i+100_000, len(content))])
			enc.Flush()
		}
		if err := enc.Close(); err != nil {
			t.Fatal(err)
		}
		base := window128MiB(t, b.Bytes())
		for _, size := range []int{0, 1, 2, 4} {
			frame := withDictionaryIDField(t, base, size)
			var h zstd.Header
			if err := h.Decode(frame); err != nil || h.HasFCS || h.HasCheckSum != crc || h.DictionaryID != 0 ||
				h.HeaderSize != 6+size || h.WindowSize != 128<<20 {
				t.Fatalf("crc %v, dictionary field %d: header %+v, %v", crc, size, h, err)
			}
			d, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecodeAllCapLimit(true),
				zstd.WithDecoderMaxWindow(zstdMaxWindow))
			if err != nil {
				t.Fatal(err)
			}
			failed := errors.New("the first pass failed")
			n := uint64(len(content))
			for _, made := range []uint64{n, n - 1} {
				nf, w := zstdNarrowWindow(frame, h.WindowSize, 64<<10)
				if w != 64<<10 || cap(nf)-len(nf) < zstdFCSField {
					t.Fatalf("narrowed to %d, %d bytes of room", w, cap(nf)-len(nf))
				}
				out := make([]byte, 10+made, 10+n+zstdMaxBlock+zstdOverAlloc)
				copy(out, "0123456789")
				got, err := recheckNarrowed(d, nf, frame[5], h.HeaderSize, out, 10, made, 0, failed)
				switch {
				case made == n && (err != nil || !bytes.Equal(got[10:], content) || string(got[:10]) != "0123456789"):
					t.Errorf("crc %v, dictionary field %d: rechecked with all it makes: %d bytes, %v, want its content", crc, size, len(got), err)
				case made < n && (!errors.Is(err, ErrDecompressedTooLarge) || errors.Is(err, ErrCorrupt)):
					t.Errorf("crc %v, dictionary field %d: rechecked with a byte less: %v, want ErrDecompressedTooLarge", crc, size, err)
				}
			}
			d.Close()
		}
	}
}

// TestZstdRecheckAllocatesNoMore: a message whose frame fails near its narrowed window,
// and is therefore decoded a second time under its own window (recheckNarrowed), alone
// or followed by a second such frame, is ErrCorrupt having allocated no more than the
// cap, peakSlack and the copy of the frame's compressed bytes (and an eighth of the
// window named for the cap with the second frame, zstdCappedRoom's plan for it): the
// second decode writes into the buffer planned for the first (it added about 400 bytes
// to 1.48 MB when measured, recheckNarrowed cut out by hand).
func TestZstdRecheckAllocatesNoMore(t *testing.T) {
	content := zstdPayload(1 << 20)
	good := window128MiB(t, flushedZstd(t, content, 100_000))
	starts := zstdCompressedBlocks(t, good)
	last := starts[len(starts)-1]
	end := last + 3 + (int(good[last])|int(good[last+1])<<8|int(good[last+2])<<16)>>3
	limit := len(content)
	var bad []byte
	for i := end - 1; i > last+3 && bad == nil; i-- {
		b := bytes.Clone(good)
		b[i] ^= 0x5a
		if made, w, err := narrowedFirstPass(t, b, limit); failsNearTheWindow(made, w, err, limit) {
			bad = b
		}
	}
	if bad == nil {
		t.Fatal("no byte of the last block makes the first pass fail near the window")
	}
	z, _ := NewZstd(ZstdConfig{MaxDecompressedSize: limit})
	for _, msg := range [][]byte{bad, append(bytes.Clone(bad), bad...)} {
		var err error
		z.codec.decompress(msg, limit) // warm the decoders
		got := allocated(func() { _, err = z.codec.decompress(msg, limit) })
		if !errors.Is(err, ErrCorrupt) || errors.Is(err, ErrDecompressedTooLarge) {
			t.Fatalf("%d bytes: %v, want ErrCorrupt", len(msg), err)
		}
		most := uint64(limit) + peakSlack + uint64(len(bad)) + zstdFCSField
		if len(msg) > len(bad) {
			// What is left for the second frame is known only within what the
			// first's headers bound: the plan has an eighth of the window more
			// (zstdCappedRoom).
			w, _ := zstdNamedWindow(uint64(limit))
			most += w / 8
		}
		t.Logf("a %d-byte message, rechecked: %d bytes allocated, at most %d", len(msg), got, most)
		if got > most {
			t.Errorf("a %d-byte message, rechecked: %d bytes allocated, want at most %d", len(msg), got, most)
		}
	}
}
