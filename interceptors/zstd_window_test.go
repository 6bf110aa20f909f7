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
func window128MiB(t *testing.T, frame []byte) []byte {
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

// TestZstdWindowPastWhatIsLeftWithoutContentSize: the one frame with a window larger than
// the cap still refused (docs/interceptors-transforms.md) has no content size and blocks
// that could make more than the cap and a block: it is decoded by a decoder limited to
// the cap, which takes no larger window. The reference CLI's `-19 --zstd=wlog=27` of
// 100 KiB from a pipe (a 128 MiB window, blocks it splits) under a cap of 100 KiB is
// refused with ErrDecompressedTooLarge, and decodes under the default cap.
func TestZstdWindowPastWhatIsLeftWithoutContentSize(t *testing.T) {
	src := zstdPayload(100 << 10)
	f := zstdCLI(t, src, "-19", "--zstd=wlog=27")
	if f == nil {
		return
	}
	var h zstd.Header
	if err := h.Decode(f); err != nil || h.HasFCS || h.WindowSize != 128<<20 {
		t.Fatalf("header %+v, %v: want a 128 MiB window and no content size", h, err)
	}
	z, _ := NewZstd(ZstdConfig{MaxDecompressedSize: len(src)})
	if _, err := z.codec.decompress(f, len(src)); !errors.Is(err, ErrDecompressedTooLarge) {
		t.Errorf("under a cap of its size: %v, want ErrDecompressedTooLarge", err)
	}
	z, _ = NewZstd(ZstdConfig{})
	if out, err := z.codec.decompress(f, DefaultMaxDecompressedSize); err != nil || !bytes.Equal(out, src) {
		t.Errorf("under the default cap: %d bytes, %v", len(out), err)
	}
}
