package interceptors

import (
	"bytes"
	"encoding/binary"
	"errors"
	"runtime"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/gotribes/tribes/internal/allocbound"
)

// peakSlack is what decoding may allocate beyond the cap while it refuses a bomb: a
// reader's scratch buffer and the decoders' own state, never a second copy of the output.
const peakSlack = 256 << 10

// allocated returns the bytes allocated by f (runtime.MemStats' TotalAlloc delta, so every
// buffer counts, also one dropped at once).
func allocated(f func()) uint64 {
	var a, b runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&a)
	f()
	runtime.ReadMemStats(&b)
	return b.TotalAlloc - a.TotalAlloc
}

// rleZstdFrame is a zstd frame of size bytes of 7 in RLE blocks of 128 KiB, with a 128 KiB
// window and no content size in its header: it is 4 bytes a block, and nothing but the
// blocks tells its size.
func rleZstdFrame(size int) []byte {
	f := []byte{0x28, 0xB5, 0x2F, 0xFD, 0x00, 0x38} // no content size, window 2^(10+7)
	for first := true; first || size > 0; first = false {
		n := min(size, zstdMaxBlock)
		size -= n
		h := uint32(n)<<3 | 1<<1
		if size == 0 {
			h |= 1
		}
		f = append(f, byte(h), byte(h>>8), byte(h>>16), 7)
	}
	return f
}

// streamedZstdWindow is like streamedZstd with a window of the given size.
func streamedZstdWindow(t testing.TB, size, window int) []byte {
	t.Helper()
	var b bytes.Buffer
	zw, err := zstd.NewWriter(&b, zstd.WithEncoderConcurrency(1), zstd.WithWindowSize(window))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := zw.Write(bytes.Repeat([]byte("tribes "), size/7+1)[:size]); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// The zstd codec's bound does not depend on its decoder's memory limit: with a decoder
// that has none (the library's default), a frame without a content size that expands past
// the cap is refused with ErrDecompressedTooLarge having allocated no more than the cap
// (before the bound, 8 MiB streamed took 41 MB to refuse under a 64 KiB cap), and one
// within the cap still decodes.
func TestZstdBoundIndependentOfDecoderLimit(t *testing.T) {
	const limit = 1 << 16
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(0))
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
	if err != nil {
		t.Fatal(err)
	}
	cd := &zstdCodec{enc: enc, dec: dec}
	for _, tc := range []struct {
		name  string
		frame []byte
	}{
		{"streamed 8 MiB", streamedZstd(t, 8<<20)},
		{"RLE 8 MiB", rleZstdFrame(8 << 20)},
		{"two RLE frames of 3/4 the cap", append(rleZstdFrame(limit*3/4), rleZstdFrame(limit*3/4)...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cd.decompress(tc.frame, limit) // warm the decoder
			var err error
			got := allocated(func() { _, err = cd.decompress(tc.frame, limit) })
			if !errors.Is(err, ErrDecompressedTooLarge) {
				t.Fatalf("err = %v, want ErrDecompressedTooLarge", err)
			}
			if got > limit+peakSlack {
				t.Fatalf("a %d-byte frame, cap %d: %d bytes allocated", len(tc.frame), limit, got)
			}
		})
	}
	for _, size := range []int{0, 1, limit - 1, limit} {
		for _, frame := range [][]byte{rleZstdFrame(size), streamedZstdWindow(t, size, 1<<10), enc.EncodeAll(make([]byte, size), nil)} {
			out, err := cd.decompress(frame, limit)
			if err != nil || len(out) != size {
				t.Fatalf("a frame of %d bytes (%d compressed): %d bytes, %v", size, len(frame), len(out), err)
			}
		}
	}
}

// Bombs shaped against the output's growth are refused having allocated about the cap,
// not a multiple of it: a gzip stream whose trailer understates its size (the output grew
// by doubling from a small guess: about 2x the cap), zstd frames without a content size
// following each other (each within the cap, together past it: the output grew to about
// 4x), frames announcing their size with blocks making more.
func TestDecompressionBombShapes(t *testing.T) {
	allocbound.WithoutRace(t)
	const limit = 1 << 20
	g, _ := NewGzip(GzipConfig{MaxDecompressedSize: limit})
	z, _ := NewZstd(ZstdConfig{MaxDecompressedSize: limit})

	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.BestSpeed)
	zw.Write(make([]byte, 64<<20))
	zw.Close()
	lying := bytes.Clone(gz.Bytes())
	binary.LittleEndian.PutUint32(lying[len(lying)-4:], 0) // ISIZE 0
	var members []byte
	for range 8 {
		members = append(members, mustCompress(t, g.codec, make([]byte, limit/4+1))...)
	}

	var rleFrames, streamedFrames []byte
	for range 8 {
		rleFrames = append(rleFrames, rleZstdFrame(limit-1)...)
		streamedFrames = append(streamedFrames, streamedZstdWindow(t, limit-zstdMaxBlock, 1<<17)...)
	}
	lyingFCS := append([]byte{0x28, 0xB5, 0x2F, 0xFD, 0x80, 0x38}, binary.LittleEndian.AppendUint32(nil, limit)...)
	lyingFCS = append(lyingFCS, rleZstdFrame(8 << 20)[6:]...) // announces the cap, makes 8 MiB

	for _, tc := range []struct {
		name string
		cd   codec
		in   []byte
	}{
		{"gzip trailer 0", g.codec, lying},
		{"gzip members", g.codec, members},
		{"zstd RLE frames", z.codec, rleFrames},
		{"zstd streamed frames", z.codec, streamedFrames},
		{"zstd announcing less", z.codec, lyingFCS},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cd.decompress(tc.in, limit) // warm pools and decoders
			var err error
			got := allocated(func() { _, err = tc.cd.decompress(tc.in, limit) })
			if !errors.Is(err, ErrDecompressedTooLarge) && !errors.Is(err, ErrCorrupt) {
				t.Fatalf("err = %v, want ErrDecompressedTooLarge or ErrCorrupt", err)
			}
			if got > limit+peakSlack {
				t.Fatalf("a %d-byte bomb, cap %d: %d bytes allocated (%.2fx), %v", len(tc.in), limit, got, float64(got)/limit, err)
			}
		})
	}
}

// A gzip message whose last member's trailer understates the whole (members following
// each other, as gzip allows) is read twice, counted then kept, and arrives whole: up to
// exactly the cap, which one more byte passes.
func TestGzipMembersPastTheHint(t *testing.T) {
	const limit = 1 << 20
	g, _ := NewGzip(GzipConfig{MaxDecompressedSize: limit})
	var want, in []byte
	for i := range 4 {
		part := bytes.Repeat([]byte{byte('a' + i)}, limit/4)
		want = append(want, part...)
		in = append(in, mustCompress(t, g.codec, part)...)
	}
	out, err := g.codec.decompress(in, limit)
	if err != nil || !bytes.Equal(out, want) {
		t.Fatalf("4 members of %d bytes: %d bytes, %v", limit/4, len(out), err)
	}
	in = append(in, mustCompress(t, g.codec, []byte{1})...)
	if _, err := g.codec.decompress(in, limit); !errors.Is(err, ErrDecompressedTooLarge) {
		t.Fatalf("one byte past the cap: %v, want ErrDecompressedTooLarge", err)
	}
	if _, err := g.codec.decompress(in[:len(in)-5], limit); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("the last member cut short: %v, want ErrCorrupt", err)
	}
}

// TestZstdOutputAllocatedOnce: a message the interceptor sent decodes into one buffer of
// its announced size, plus the decoder's own (under 64 KiB): never a buffer grown by
// copying. Where a frame lying about its size could make the decoder copy its buffer past
// the cap (an announced size past an eighth of the cap, zstdExactIsSafe), the buffer has
// room for one block past it, where the lie is caught. A message of 129 KiB allocated
// 265 KiB before (that block's room whatever its size), 1 MiB 1161 KiB.
func TestZstdOutputAllocatedOnce(t *testing.T) {
	allocbound.WithoutRace(t)
	z, _ := NewZstd(ZstdConfig{})
	for _, size := range []int{100, 1 << 10, 64 << 10, 129 << 10, 200 << 10, 1 << 20, 4<<20 + 1000, 8 << 20} {
		src := sessionPayload(size, 42)
		c, err := z.codec.compress(src)
		if err != nil {
			t.Fatal(err)
		}
		for range 2*runtime.GOMAXPROCS(0) + 2 { // warm each of the decoder's block decoders
			z.codec.decompress(c, DefaultMaxDecompressedSize)
		}
		var out []byte
		got := allocated(func() { out, err = z.codec.decompress(c, DefaultMaxDecompressedSize) })
		if err != nil || !bytes.Equal(out, src) {
			t.Fatalf("%d bytes: %d bytes out, %v", size, len(out), err)
		}
		want := uint64(size + 64<<10) // the decoder's tables: under 10 KiB, 35 KiB under -race (its sync.Pools drop items)
		if size > DefaultMaxDecompressedSize/8-2*zstdMaxBlock {
			want += zstdMaxBlock
		}
		if got > want {
			t.Errorf("%d bytes (%d compressed): %d bytes allocated, want at most %d", size, len(c), got, want)
		}
	}
}

// TestZstdLyingFrameAroundTheExactBuffer: frames announcing a content size smaller than
// their blocks make (4 MiB of compressed blocks) are refused within the bound of bombs,
// the cap and 256 KiB, under a cap of 8 MiB: announcing the most that gets a buffer of
// exactly its size (an eighth of the cap less two blocks), where the decoder grows it by
// copying before it notices, and one byte more, where the buffer has room for a block.
func TestZstdLyingFrameAroundTheExactBuffer(t *testing.T) {
	const limit = 8 << 20
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1), zstd.WithSingleSegment(false))
	if err != nil {
		t.Fatal(err)
	}
	frame := enc.EncodeAll(sessionPayload(4<<20, 3), nil)
	var h zstd.Header
	if err := h.Decode(frame); err != nil || !h.HasFCS || h.HeaderSize != 10 || h.WindowSize > limit {
		t.Fatalf("header %+v, %v: want a 4-byte content size after the window byte", h, err)
	}
	z, _ := NewZstd(ZstdConfig{MaxDecompressedSize: limit})
	exact := uint32(limit/8 - 2*zstdMaxBlock)
	for _, announced := range []uint32{exact, exact + 1, 1000} {
		forged := bytes.Clone(frame)
		binary.LittleEndian.PutUint32(forged[6:], announced)
		z.codec.decompress(forged, limit) // warm the decoder
		got := allocated(func() { _, err = z.codec.decompress(forged, limit) })
		if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrDecompressedTooLarge) {
			t.Errorf("announcing %d: %v, want ErrCorrupt or ErrDecompressedTooLarge", announced, err)
		}
		if got > limit+peakSlack {
			t.Errorf("announcing %d of 4 MiB, cap %d: %d bytes allocated", announced, limit, got)
		}
		t.Logf("announcing %d of 4 MiB: %d bytes allocated, %v", announced, got, err)
	}
}
