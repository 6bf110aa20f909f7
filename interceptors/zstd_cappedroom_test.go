package interceptors

import (
	"bytes"
	"errors"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// TestZstdCappedRoomAfterFrames pins zstdCappedRoom's plan for a frame decoded under a
// narrowed window after other frames, each branch with messages of two frames under a
// 1 MiB cap, and shows that decodeCapped's buffer, allocated once at that plan, is never
// grown: a message within the cap is returned in a buffer whose capacity is the plan, and
// a bomb is refused having allocated at most the plan, the narrowed copy of its frame
// and the decoders' own (peakSlack: 14 to 47 KB measured, the latter under -race; a
// buffer grown by a copy would add more than the plan).
//
// Where what the frames before make is known from their headers (lo == hi: a frame
// announcing 100,000 bytes; a frame without a content size of RLE blocks making 100 KiB),
// the plan is exactly that, the window the header names of at least what is left (not
// the cap's: 983,040 for 948,576 left), a block and the over-allocation. Where it is not
// (lo != hi: a stream flushed every 10 KB making 100,000 bytes, its compressed blocks
// bounded at 128 KiB each), it is the cap, an eighth of the window named of the most that
// may be left (the cap), a block and the over-allocation. The frame after them is
// klauspost's stream with a 128 MiB window flushed every 10 KB making 800,000 bytes, or a
// 7 KB bomb of 64 MiB with that window.
func TestZstdCappedRoomAfterFrames(t *testing.T) {
	const limit = 1 << 20
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
	if err != nil {
		t.Fatal(err)
	}
	headContent := zstdPayload(100_000)
	announced := enc.EncodeAll(headContent, nil)
	rle := rleZstdFrame(100 << 10)
	flushed := flushedZstd(t, headContent, 10_000)
	tailContent := zstdPayload(800_000)[:800_000]
	var b bytes.Buffer
	sw, err := zstd.NewWriter(&b, zstd.WithEncoderConcurrency(1), zstd.WithWindowSize(128<<20))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(tailContent); i += 10_000 {
		sw.Write(tailContent[i:min(i+10_000, len(tailContent))])
		sw.Flush()
	}
	if err := sw.Close(); err != nil {
		t.Fatal(err)
	}
	tail := b.Bytes()
	bomb := window128MiB(t, streamedZstdWindow(t, 64<<20, 1<<20))
	for _, f := range [][]byte{tail, bomb} {
		var h zstd.Header
		if err := h.Decode(f); err != nil || h.HasFCS || h.WindowSize != 128<<20 {
			t.Fatalf("header %+v, %v: want a 128 MiB window and no content size", h, err)
		}
	}
	const after = zstdMaxBlock + zstdOverAlloc
	for _, c := range []struct {
		name  string
		head  []byte
		made  int    // what head makes
		plan  uint64 // zstdCappedRoom's, worked out by hand
		exact bool   // lo == hi
	}{
		{"a frame announcing 100,000 bytes", announced, 100_000, 100_000 + 983_040 + after, true},
		{"RLE blocks making 102,400 bytes", rle, 102_400, 102_400 + 983_040 + after, true},
		{"a stream flushed every 10 KB making 100,000 bytes", flushed, 100_000, limit + limit/8 + after, false},
	} {
		sz, err := scanZstd(c.head, limit)
		if err != nil || (sz.least == sz.most) != c.exact {
			t.Fatalf("%s: headers bound %d to %d (%v): want lo == hi %v", c.name, sz.least, sz.most, err, c.exact)
		}
		msg := append(bytes.Clone(c.head), tail...)
		if got := zstdCappedRoom(msg, limit); got != c.plan {
			t.Errorf("%s, then the stream: planned %d, want %d", c.name, got, c.plan)
		}
		if c.plan <= limit+zstdCappedSlack {
			t.Fatalf("%s: a plan of %d is the cap's (%d): it pins nothing", c.name, c.plan, limit+zstdCappedSlack)
		}
		z, _ := NewZstd(ZstdConfig{MaxDecompressedSize: limit})
		out, err := z.codec.decompress(msg, limit)
		want := append(decodeZstdHead(t, c.head, c.made), tailContent...)
		if err != nil || !bytes.Equal(out, want) {
			t.Fatalf("%s, then the stream: %d bytes, %v, want %d", c.name, len(out), err, len(want))
		}
		if uint64(cap(out)) != c.plan {
			t.Errorf("%s, then the stream: a buffer of %d, want the plan, %d (grown or planned otherwise)", c.name, cap(out), c.plan)
		}

		msg = append(bytes.Clone(c.head), bomb...)
		if got := zstdCappedRoom(msg, limit); got != c.plan {
			t.Errorf("%s, then the bomb: planned %d, want %d", c.name, got, c.plan)
		}
		z.codec.decompress(msg, limit) // warm the decoders
		got := allocated(func() { _, err = z.codec.decompress(msg, limit) })
		if !errors.Is(err, ErrDecompressedTooLarge) {
			t.Fatalf("%s, then the bomb: %v, want ErrDecompressedTooLarge", c.name, err)
		}
		most := c.plan + uint64(len(bomb)) + zstdFCSField + peakSlack
		t.Logf("%s, then the bomb: %d bytes allocated, plan %d", c.name, got, c.plan)
		if got > most {
			t.Errorf("%s, then the bomb: %d bytes allocated, want at most %d (the plan, %d, the copy and peakSlack)", c.name, got, most, c.plan)
		}
	}
}

// decodeZstdHead returns what head, a single frame, makes (made bytes).
func decodeZstdHead(t *testing.T, head []byte, made int) []byte {
	t.Helper()
	d, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	out, err := d.DecodeAll(head, nil)
	if err != nil || len(out) != made {
		t.Fatalf("the first frame: %d bytes, %v, want %d", len(out), err, made)
	}
	return out
}
