package interceptors

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// announcedZstdFrame is content in one frame announcing its size (klauspost's EncodeAll).
func announcedZstdFrame(tb testing.TB, content []byte) []byte {
	tb.Helper()
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
	if err != nil {
		tb.Fatal(err)
	}
	defer enc.Close()
	return enc.EncodeAll(content, nil)
}

// skippableZstdFrame is a skippable frame of n bytes of payload.
func skippableZstdFrame(n int) []byte {
	f := binary.LittleEndian.AppendUint32(nil, 0x184D2A50)
	f = binary.LittleEndian.AppendUint32(f, uint32(n))
	return append(f, bytes.Repeat([]byte{0xee}, n)...)
}

// TestZstdRecheckKeptAllocatesNoMore extends TestZstdRecheckAllocatesNoMore to the paths
// recheckNarrowed now returns a frame's content from (a compressed block larger than the
// narrowed window, its content within what is left): its second decode ending exactly at
// what is left, its third decode after the frame ended short of that (its own size
// written), alone and after a frame announcing its size and a skippable frame, and
// followed by a frame after it (out kept and decoded into further). Each decodes to its
// exact content, in a buffer of exactly zstdCappedRoom's plan (never grown by the
// rechecks' content size nor by the decoder past it), allocating at most the cap,
// peakSlack and the message's bytes with a content size field for each narrowed copy;
// the same messages with a wrong checksum in the rechecked frame are ErrCorrupt.
func TestZstdRecheckKeptAllocatesNoMore(t *testing.T) {
	const limit = 8 << 10
	payload := zstdPayload(limit)
	type part struct {
		raw   []int // a rawLiteralsZstdFrame of these parts; nil: fcs or skip
		fcs   int   // a frame announcing this many bytes
		skip  int   // a skippable frame of this many bytes
		check bool  // the frame rechecked (its checksum made wrong for the corrupt case)
	}
	for _, c := range []struct {
		name  string
		parts []part
	}{
		{"second-decode-exact", []part{{raw: []int{limit - 2, 2}, check: true}}},
		{"third-decode-short", []part{{raw: []int{limit - 2, 1}, check: true}}},
		{"third-decode-block-second", []part{{raw: []int{2, limit - 3}, check: true}}},
		{"after-announced-and-skippable", []part{{fcs: 4096}, {skip: 300}, {raw: []int{4093, 1}, check: true}}},
		{"then-a-frame-after", []part{{raw: []int{limit - 2, 1}, check: true}, {skip: 10}, {fcs: 1}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			for _, bad := range []bool{false, true} {
				var msg, want []byte
				p, checkAt, checkEnd, checkLeft := 0, 0, 0, 0
				for _, pt := range c.parts {
					switch {
					case pt.raw != nil:
						n := 0
						for _, x := range pt.raw {
							n += x
						}
						if pt.check {
							checkAt, checkLeft = len(msg), p
						}
						msg = append(msg, rawLiteralsZstdFrame(t, payload[p:p+n], pt.raw, bad && pt.check)...)
						if pt.check {
							checkEnd = len(msg)
						}
						want = append(want, payload[p:p+n]...)
						p += n
					case pt.fcs > 0:
						msg = append(msg, announcedZstdFrame(t, payload[p:p+pt.fcs])...)
						want = append(want, payload[p:p+pt.fcs]...)
						p += pt.fcs
					default:
						msg = append(msg, skippableZstdFrame(pt.skip)...)
					}
				}
				// The message takes decodeCapped, and the rechecked frame fails its first
				// pass under the window of what is left for its block's size.
				if sz, err := scanZstd(msg, limit); err != nil || sz.most+sz.over <= limit+zstdCappedSlack-zstdOverAlloc {
					t.Fatalf("bound %d+%d, %v: not decoded by decodeCapped", sz.most, sz.over, err)
				}
				if !bad {
					if made, w, err := narrowedFirstPass(t, msg[checkAt:checkEnd], limit-checkLeft); !errors.Is(err, zstd.ErrCompressedSizeTooBig) ||
						!failsNearTheWindow(made, w, err, limit-checkLeft) {
						t.Fatalf("the first pass: %d bytes, window %d, %v: want a block too large for the window", made, w, err)
					}
				}
				z, _ := NewZstd(ZstdConfig{MaxDecompressedSize: limit})
				z.codec.decompress(msg, limit) // warm the decoders
				var out []byte
				var err error
				got := allocated(func() { out, err = z.codec.decompress(msg, limit) })
				if bad {
					if !errors.Is(err, ErrCorrupt) || errors.Is(err, ErrDecompressedTooLarge) {
						t.Fatalf("a wrong checksum: %d bytes, %v, want ErrCorrupt", len(out), err)
					}
				} else {
					if err != nil || !bytes.Equal(out, want) {
						t.Fatalf("%d bytes, %v, want its %d bytes", len(out), err, len(want))
					}
					if plan := zstdCappedRoom(msg, limit); uint64(cap(out)) != plan {
						t.Errorf("a buffer of %d bytes, want the %d planned", cap(out), plan)
					}
				}
				most := uint64(limit) + peakSlack + uint64(len(msg)) + zstdFCSField
				t.Logf("bad checksum %v: a %d-byte message: %d bytes allocated, at most %d", bad, len(msg), got, most)
				if got > most {
					t.Errorf("bad checksum %v: %d bytes allocated, want at most %d", bad, got, most)
				}
			}
		})
	}
}
