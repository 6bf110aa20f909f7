package interceptors

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// rawLiteralsZstdFrame builds by hand a frame without a content size, with a 1 MiB window
// and a checksum (wrong where badSum), whose blocks are compressed blocks each holding
// its part of content as raw literals and no sequences: a legal block 4 bytes larger than
// what it makes (a 3-byte Literals_Section_Header, the literals, a Number_of_Sequences of
// 0), so one making a narrowed window less 3 bytes is larger than that window.
func rawLiteralsZstdFrame(t testing.TB, content []byte, parts []int, badSum bool) []byte {
	t.Helper()
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1), zstd.WithEncoderCRC(true))
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	ref := enc.EncodeAll(content, nil)
	sum := bytes.Clone(ref[len(ref)-4:]) // the checksum is of the content alone
	if badSum {
		sum[0] ^= 0xff
	}
	f := []byte{0x28, 0xB5, 0x2F, 0xFD, 1 << 2, 10 << 3} // a checksum, no content size; window 2^(10+10)
	p := 0
	for i, n := range parts {
		size := uint32(3 + n + 1)
		h := size<<3 | 2<<1 // compressed
		if i == len(parts)-1 {
			h |= 1
		}
		f = append(f, byte(h), byte(h>>8), byte(h>>16))
		// Literals_Block_Type raw (0), Size_Format 3: a 20-bit Regenerated_Size.
		f = append(f, byte(3<<2|n&15<<4), byte(n>>4), byte(n>>12))
		f = append(f, content[p:p+n]...)
		f = append(f, 0) // Number_of_Sequences
		p += n
	}
	if p != len(content) {
		t.Fatalf("parts make %d bytes of %d", p, len(content))
	}
	return append(f, sum...)
}

// TestZstdBlockLargerThanNarrowedWindow: a frame without a content size and a 1 MiB
// window whose compressed block is larger than the window it is decoded under (what is
// left under a cap of 8 KiB, narrowed: 8 KiB, under a block) while what it makes is
// not decodes to its exact content where that is within the cap (8 192 and 8 191 bytes,
// the block first or after one of 2 bytes), and is ErrDecompressedTooLarge past it (8 193
// bytes) and ErrCorrupt with a wrong checksum. It was refused as too large ("a compressed
// block larger than the window of what is left"). The reference decoder under the
// frame's own window decodes each good frame, and the first pass fails under the
// narrowed one, checked here.
func TestZstdBlockLargerThanNarrowedWindow(t *testing.T) {
	const limit = 8 << 10
	ref, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(zstdMaxWindow),
		zstd.WithDecoderMaxMemory(zstdMaxWindow))
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	payload := zstdPayload(limit + 1)
	for _, c := range []struct {
		parts []int
		bad   bool
		want  error // nil: its content
	}{
		{parts: []int{limit - 2, 2}},
		{parts: []int{limit - 2, 1}},
		{parts: []int{2, limit - 3}},
		{parts: []int{limit - 2, 3}, want: ErrDecompressedTooLarge},
		{parts: []int{limit - 2, 1}, bad: true, want: ErrCorrupt},
		{parts: []int{limit - 2, 2}, bad: true, want: ErrCorrupt},
	} {
		n := 0
		for _, p := range c.parts {
			n += p
		}
		content := payload[:n]
		frame := rawLiteralsZstdFrame(t, content, c.parts, c.bad)
		if out, err := ref.DecodeAll(frame, nil); c.bad != (err != nil) || (!c.bad && !bytes.Equal(out, content)) {
			t.Fatalf("parts %v, bad checksum %v: the reference decoder: %d bytes, %v", c.parts, c.bad, len(out), err)
		}
		if made, w, err := narrowedFirstPass(t, frame, limit); !failsNearTheWindow(made, w, err, limit) ||
			!errors.Is(err, zstd.ErrCompressedSizeTooBig) {
			t.Fatalf("parts %v: the first pass: %d bytes, window %d, %v: want a block too large for the window", c.parts, made, w, err)
		}
		z, _ := NewZstd(ZstdConfig{MaxDecompressedSize: limit})
		out, err := z.codec.decompress(frame, limit)
		switch {
		case c.want == nil && (err != nil || !bytes.Equal(out, content)):
			t.Errorf("parts %v: %d bytes, %v, want its %d bytes", c.parts, len(out), err, n)
		case c.want != nil && (!errors.Is(err, c.want) || errors.Is(err, ErrCorrupt) == errors.Is(err, ErrDecompressedTooLarge)):
			t.Errorf("parts %v, bad checksum %v: %v, want %v", c.parts, c.bad, err, c.want)
		}
	}
}

// TestZstdRecheckMadePastWhatIsLeft: a frame whose first pass under a narrowed window
// fails (not for its size nor its checksum) in a block that starts past what is left
// under the cap, yet within that window, is ErrDecompressedTooLarge without a second
// decode (recheckNarrowed's first check): klauspost's stream of 1 MiB with a 128 MiB
// window flushed every 100 KB, a byte of its last compressed block changed, under a cap
// of a byte less than the blocks before it make (the narrowed window 1 MiB).
func TestZstdRecheckMadePastWhatIsLeft(t *testing.T) {
	content := zstdPayload(1 << 20)
	good := window128MiB(t, flushedZstd(t, content, 100_000))
	starts := zstdCompressedBlocks(t, good)
	last := starts[len(starts)-1]
	end := last + 3 + (int(good[last])|int(good[last+1])<<8|int(good[last+2])<<16)>>3
	var bad []byte
	before := 0
	for i := end - 1; i > last+3 && bad == nil; i-- {
		b := bytes.Clone(good)
		b[i] ^= 0x5a
		if made, w, err := narrowedFirstPass(t, b, len(content)); failsNearTheWindow(made, w, err, len(content)) {
			bad, before = b, made
		}
	}
	if bad == nil {
		t.Fatal("no byte of the last block makes the first pass fail near the window")
	}
	limit := before - 1
	made, w, err := narrowedFirstPass(t, bad, limit)
	if made != before || uint64(made) > w || err == nil || errors.Is(err, zstd.ErrCRCMismatch) ||
		errors.Is(err, zstd.ErrDecoderSizeExceeded) || uint64(made)+zstdMaxBlock <= w {
		t.Fatalf("cap %d: the first pass: %d bytes, window %d, %v: want %d bytes, within the window, then a failure near it",
			limit, made, w, err, before)
	}
	z, _ := NewZstd(ZstdConfig{MaxDecompressedSize: limit})
	if _, err := z.codec.decompress(bad, limit); !errors.Is(err, ErrDecompressedTooLarge) || errors.Is(err, ErrCorrupt) ||
		!strings.Contains(err.Error(), "and then failed") {
		t.Errorf("cap %d: %v, want ErrDecompressedTooLarge for the %d bytes made before the failure", limit, err, made)
	}
}
