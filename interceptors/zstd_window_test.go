package interceptors

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os/exec"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/gotribes/tribes/internal/testenv"
)

// zstdCLI returns the output of the zstd CLI run with args on stdin.
func zstdCLI(t *testing.T, stdin []byte, args ...string) []byte {
	t.Helper()
	cli, err := exec.LookPath("zstd")
	if err != nil {
		testenv.Missing(t, "needs the zstd CLI: run scripts/install-test-deps.sh")
		return nil
	}
	cmd := exec.Command(cli, append([]string{"-q", "-c"}, args...)...)
	cmd.Stdin = bytes.NewReader(stdin)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("zstd %v: %v", args, err)
	}
	return out
}

// window128MiB returns frame, which is not single segment, with a window of 128 MiB
// (Window_Descriptor exponent 17: 2^(10+17)), larger than its own: a window larger than an
// encoder used is valid, its offsets within either.
func window128MiB(t testing.TB, frame []byte) []byte {
	t.Helper()
	var h zstd.Header
	if err := h.Decode(frame); err != nil || h.SingleSegment || h.WindowSize > 128<<20 {
		t.Fatalf("header %+v, %v", h, err)
	}
	out := bytes.Clone(frame)
	out[5] = 17 << 3
	return out
}

// withContentSize returns frame, which has no content size in its header, with one of
// size (a 4-byte field): the frame's own bytes after its header unchanged.
func withContentSize(t *testing.T, frame []byte, size uint32) []byte {
	t.Helper()
	var h zstd.Header
	if err := h.Decode(frame); err != nil || h.HasFCS || h.SingleSegment || h.DictionaryID != 0 {
		t.Fatalf("header %+v, %v", h, err)
	}
	// Magic, descriptor, window byte; Frame_Content_Size_Flag 2 is a 4-byte field.
	out := append([]byte(nil), frame[:6]...)
	out[4] |= 2 << 6
	out = binary.LittleEndian.AppendUint32(out, size)
	return append(out, frame[h.HeaderSize:]...)
}

// TestZstdWindowLargerThanTheCap: a frame whose window is larger than the cap decodes
// when its content is within the cap, whatever the window: the reference CLI's
// `--ultra -22` and `--long=27` (a 128 MiB window) and `--long=30` (1 GiB) from a pipe on
// small inputs (the CLI writes the content size of an input it reads whole at once; where
// it did not, the frame is also tried with it written in its header), and klauspost's
// streams with a 128 MiB window, with and without their content size, under the default
// cap of 64 MiB, and those with a content size also under a cap of their size. Before,
// the decoder's window limit, the cap, refused them all with ErrDecompressedTooLarge.
func TestZstdWindowLargerThanTheCap(t *testing.T) {
	for _, size := range []int{1, 1000, 100 << 10} {
		src := zstdPayload(size)
		frames := map[string][]byte{}
		clis := [][]string{{"-3", "--long=27"}, {"-1", "--long=30"}}
		if size == 1000 {
			// A pipe at --ultra -22 costs the CLI 10 s and 650 MB whatever the input.
			clis = append(clis, []string{"--ultra", "-22"})
		}
		for _, args := range clis {
			f := zstdCLI(t, src, args...)
			if f == nil {
				return
			}
			frames[fmt.Sprintf("zstd %v", args)] = f
			if h := (zstd.Header{}); h.Decode(f) == nil && !h.HasFCS {
				frames[fmt.Sprintf("zstd %v, content size written in", args)] = withContentSize(t, f, uint32(size))
			}
		}
		f := window128MiB(t, flushedZstd(t, src, max(size, 1)))
		frames["klauspost stream, window set to 128 MiB"] = f
		frames["klauspost stream, window set to 128 MiB, content size written in"] = withContentSize(t, f, uint32(size))
		for name, f := range frames {
			var h zstd.Header
			if err := h.Decode(f); err != nil || h.WindowSize <= DefaultMaxDecompressedSize {
				t.Fatalf("%s: header %+v, %v: want a window past the cap", name, h, err)
			}
			limits := []int{DefaultMaxDecompressedSize}
			if h.HasFCS {
				limits = append(limits, size) // see TestZstdWindowPastWhatIsLeftWithoutContentSize
			}
			for _, limit := range limits {
				z, err := NewZstd(ZstdConfig{MaxDecompressedSize: limit})
				if err != nil {
					t.Fatal(err)
				}
				out, err := z.codec.decompress(f, limit)
				if err != nil || !bytes.Equal(out, src) {
					t.Errorf("%s, %d bytes (window %d, content size %v) under a cap of %d: %d bytes, %v",
						name, size, h.WindowSize, h.HasFCS, limit, len(out), err)
				}
			}
		}
	}
}

// TestZstdLargeWindowLyingContentSize: frames with a 128 MiB window announcing a small
// content size while their blocks make much more (8 MiB) are refused, having allocated
// about what they announce and a block, not what they make, nor the window, nor the cap:
// compressed blocks (found by the decoder after the block that passes the announced size)
// and RLE blocks (by the header walk).
func TestZstdLargeWindowLyingContentSize(t *testing.T) {
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1), zstd.WithSingleSegment(false))
	if err != nil {
		t.Fatal(err)
	}
	compressed := window128MiB(t, enc.EncodeAll(sessionPayload(8<<20, 7), nil))
	var h zstd.Header
	if err := h.Decode(compressed); err != nil || !h.HasFCS || h.WindowSize != 128<<20 {
		t.Fatalf("header %+v, %v", h, err)
	}
	// The content size field follows the magic, the descriptor and the window byte.
	if h.HeaderSize != 10 {
		t.Fatalf("a %d-byte header, want a 4-byte content size field", h.HeaderSize)
	}
	rle := append([]byte{0x28, 0xB5, 0x2F, 0xFD, 2 << 6, 17 << 3}, 0, 0, 0, 0) // window 2^27
	rle = append(rle, rleZstdFrame(8 << 20)[6:]...)
	z, err := NewZstd(ZstdConfig{})
	if err != nil {
		t.Fatal(err)
	}
	for _, announced := range []uint32{1000, 200 << 10} {
		for name, frame := range map[string][]byte{"compressed": compressed, "RLE": rle} {
			forged := bytes.Clone(frame)
			binary.LittleEndian.PutUint32(forged[6:], announced)
			z.codec.decompress(forged, DefaultMaxDecompressedSize) // warm the decoder
			got := allocated(func() { _, err = z.codec.decompress(forged, DefaultMaxDecompressedSize) })
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrDecompressedTooLarge) {
				t.Errorf("%s blocks of 8 MiB announcing %d bytes: %v, want ErrCorrupt or ErrDecompressedTooLarge", name, announced, err)
			}
			if limit := uint64(announced) + 1<<20; got > limit {
				t.Errorf("%s blocks of 8 MiB announcing %d bytes: %d bytes allocated, want at most %d", name, announced, got, limit)
			}
		}
	}
}

// TestZstdWindowPastWhatIsLeftWithoutContentSize: a frame without a content size whose
// window is larger than what is left under the cap, and whose blocks could make more than
// the cap and a block, decodes whole under a cap of exactly its size and is refused with
// ErrDecompressedTooLarge under one byte less: the reference CLI's `-19 --zstd=wlog=27` of
// 100 KiB from a pipe (a 128 MiB window, blocks it splits), klauspost's stream encoder
// with a 128 MiB window flushed every 10 KB, and that frame after one announcing its size (the buffer then
// grows once for the window). Before, the decoder limited to what was left, which takes
// no larger window, refused them all, whatever they made.
func TestZstdWindowPastWhatIsLeftWithoutContentSize(t *testing.T) {
	type tc struct{ frame, want, last []byte } // last: its frame without a content size
	cases := map[string]tc{}
	src := zstdPayload(100 << 10)
	if f := zstdCLI(t, src, "-19", "--zstd=wlog=27"); f != nil {
		cases["zstd -19 --zstd=wlog=27 from a pipe"] = tc{f, src, f}
	}
	// Flushed every 10 KB: its blocks, 128 KiB each as far as their headers tell, could
	// make far more than the cap.
	big := zstdPayload(3<<20 + 5)
	sw, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1), zstd.WithWindowSize(128<<20))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	sw.Reset(&b)
	for i := 0; i < len(big); i += 10_000 {
		sw.Write(big[i:min(i+10_000, len(big))])
		sw.Flush()
	}
	if err := sw.Close(); err != nil {
		t.Fatal(err)
	}
	f := b.Bytes()
	cases["klauspost stream flushed, window 128 MiB"] = tc{f, big, f}
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
	if err != nil {
		t.Fatal(err)
	}
	head := enc.EncodeAll(src, nil)
	cases["a frame announcing its size, then klauspost's stream of window 128 MiB"] = tc{append(head, f...), append(bytes.Clone(src), big...), f}
	for name, c := range cases {
		var h zstd.Header
		if err := h.Decode(c.last); err != nil || h.HasFCS || h.WindowSize != 128<<20 {
			t.Fatalf("%s: header %+v, %v: want a 128 MiB window and no content size", name, h, err)
		}
		for _, limit := range []int{len(c.want), DefaultMaxDecompressedSize} {
			z, _ := NewZstd(ZstdConfig{MaxDecompressedSize: limit})
			if out, err := z.codec.decompress(c.frame, limit); err != nil || !bytes.Equal(out, c.want) {
				t.Errorf("%s: %d bytes under a cap of %d: %d bytes, %v", name, len(c.want), limit, len(out), err)
			}
		}
		z, _ := NewZstd(ZstdConfig{MaxDecompressedSize: len(c.want) - 1})
		if _, err := z.codec.decompress(c.frame, len(c.want)-1); !errors.Is(err, ErrDecompressedTooLarge) {
			t.Errorf("%s: %d bytes under a cap of one less: %v, want ErrDecompressedTooLarge", name, len(c.want), err)
		}
	}
}

// TestZstdWindowPastWhatIsLeftBound: a frame without a content size with a 128 MiB
// window whose compressed blocks make 64 MiB (a bomb of 7 KB; one of RLE blocks would be
// refused by the header walk, never decoded) is decoded under a window of what
// is left (the cap, a power of two here) and refused once it passes the cap, having
// allocated at most the cap and 256 KiB (peakSlack), as bombs with smaller windows; a
// cap the header cannot name as a window (the cap and a third) allows an eighth more.
func TestZstdWindowPastWhatIsLeftBound(t *testing.T) {
	bomb := window128MiB(t, streamedZstdWindow(t, 64<<20, 1<<20))
	for _, limit := range []int{1 << 20, 8 << 20, 4<<20 + 4<<20/3} {
		z, err := NewZstd(ZstdConfig{MaxDecompressedSize: limit})
		if err != nil {
			t.Fatal(err)
		}
		z.codec.decompress(bomb, limit) // warm the decoder
		got := allocated(func() { _, err = z.codec.decompress(bomb, limit) })
		if !errors.Is(err, ErrDecompressedTooLarge) {
			t.Fatalf("cap %d: err = %v, want ErrDecompressedTooLarge", limit, err)
		}
		most := uint64(limit) + peakSlack
		if limit&(limit-1) != 0 {
			most += uint64(limit / 8)
		}
		if got > most {
			t.Errorf("cap %d: a %d-byte frame of 64 MiB with a 128 MiB window: %d bytes allocated, want at most %d", limit, len(bomb), got, most)
		}
	}
}

// TestZstdNarrowWindow: the window named for a frame whose window passes what is left is
// the smallest the Window_Descriptor can name of at least what is left, the frame's own
// when that is not smaller, and the rest of the frame is unchanged.
func TestZstdNarrowWindow(t *testing.T) {
	frame := rleZstdFrame(1 << 20)
	frame[5] = 17 << 3 // 128 MiB
	for _, c := range []struct {
		left, want uint64
	}{
		{1 << 10, 1 << 10},
		{1<<10 + 1, 1<<10 + 128},   // 2^10·(1+1/8)
		{100 << 10, 104 << 10},     // 2^16·(1+5/8)
		{1 << 20, 1 << 20},         // a power of two: itself
		{1<<20 + 1, 1<<20 + 1<<17}, // 2^20·(1+1/8)
		{64 << 20, 64 << 20},
		{127 << 20, 128 << 20}, // the frame's own: 2^27 is not smaller
	} {
		got, w := zstdNarrowWindow(frame, 128<<20, c.left)
		if w != c.want {
			t.Errorf("left %d: window %d, want %d", c.left, w, c.want)
		}
		var h zstd.Header
		if err := h.Decode(got); err != nil || h.WindowSize != w || !bytes.Equal(got[6:], frame[6:]) {
			t.Errorf("left %d: header %+v, %v, want window %d and the frame otherwise unchanged", c.left, h, err, w)
		}
	}
	if frame[5] != 17<<3 {
		t.Fatal("zstdNarrowWindow wrote into the frame it was given")
	}
}
