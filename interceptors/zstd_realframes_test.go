package interceptors

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/gotribes/tribes/internal/testenv"
)

// realZstdSizes are the message sizes the real-frame tests encode: empty, under and over
// the 256-byte and 1 KiB thresholds of the header's fields, around one block, and several.
var realZstdSizes = []int{0, 1, 255, 1025, 128<<10 + 1, 300<<10 + 7}

// zstdPayload is size bytes that compress a little (text) with some incompressible runs,
// so encoders write raw, RLE and compressed blocks.
func zstdPayload(size int) []byte {
	b := sessionPayload(size, uint64(size)+1)
	for i := 0; i+4096 < size; i += 64 << 10 {
		copy(b[i:i+2048], bytes.Repeat([]byte{'z'}, 2048)) // an RLE-able run
	}
	return b
}

// decodesWhole asserts the codec returns src from frame under the cap maxLen, whatever
// the frame's window (TestZstdWindowPastWhatIsLeftWithoutContentSize).
func decodesWhole(t *testing.T, cd codec, name string, frame, src []byte, maxLen int) {
	t.Helper()
	out, err := cd.decompress(frame, maxLen)
	if err != nil || !bytes.Equal(out, src) {
		var h zstd.Header
		_ = h.Decode(frame)
		t.Errorf("%s: %d bytes (%d compressed, header %+v), cap %d: got %d bytes, %v", name, len(src), len(frame), h, maxLen, len(out), err)
	}
}

// TestZstdDecodesKlauspostFrames: every frame klauspost's encoder writes, at every level,
// single segment or not, any window, with and without checksum, in one call or as a
// stream (with flushes: partial blocks), padded with skippable frames, one after another,
// decodes whole, also under a cap of exactly its size.
func TestZstdDecodesKlauspostFrames(t *testing.T) {
	z, err := NewZstd(ZstdConfig{})
	if err != nil {
		t.Fatal(err)
	}
	type variant struct {
		name string
		opts []zstd.EOption
	}
	var variants []variant
	for _, lvl := range []zstd.EncoderLevel{zstd.SpeedFastest, zstd.SpeedDefault, zstd.SpeedBetterCompression, zstd.SpeedBestCompression} {
		base := []zstd.EOption{zstd.WithEncoderLevel(lvl), zstd.WithEncoderConcurrency(1)}
		add := func(name string, o ...zstd.EOption) {
			variants = append(variants, variant{fmt.Sprintf("%v/%s", lvl, name), append(append([]zstd.EOption{}, base...), o...)})
		}
		add("plain")
		add("single", zstd.WithSingleSegment(true))
		add("crc off", zstd.WithEncoderCRC(false))
		add("padded", zstd.WithEncoderPadding(1000))
		for _, w := range []int{1 << 10, 256 << 10} {
			add(fmt.Sprintf("window %d", w), zstd.WithWindowSize(w))
		}
	}
	for _, v := range variants {
		enc, err := zstd.NewWriter(nil, v.opts...)
		if err != nil {
			t.Fatal(err)
		}
		for _, size := range realZstdSizes {
			src := zstdPayload(size)
			all := enc.EncodeAll(src, nil)
			decodesWhole(t, z.codec, v.name+"/EncodeAll", all, src, DefaultMaxDecompressedSize)
			decodesWhole(t, z.codec, v.name+"/EncodeAll at the cap", all, src, max(size, 1))
			two := enc.EncodeAll(src, bytes.Clone(all))
			decodesWhole(t, z.codec, v.name+"/two frames", two, append(bytes.Clone(src), src...), DefaultMaxDecompressedSize)

			var b bytes.Buffer
			enc.Reset(&b)
			for i := 0; i < size; i += 50 << 10 { // flushes cut blocks short
				enc.Write(src[i:min(i+50<<10, size)])
				enc.Flush()
			}
			if err := enc.Close(); err != nil {
				t.Fatal(err)
			}
			decodesWhole(t, z.codec, v.name+"/stream", b.Bytes(), src, DefaultMaxDecompressedSize)
			decodesWhole(t, z.codec, v.name+"/stream at the cap", b.Bytes(), src, max(size, 1))
		}
	}
}

// TestZstdDecodesCLIFrames: what the reference zstd CLI writes, from a file (content size
// in the header) and from a pipe (none), at levels 1 to 19, with and without checksum,
// multithreaded, --long, decodes whole, also under a cap of its size where its window
// fits it.
func TestZstdDecodesCLIFrames(t *testing.T) {
	cli, err := exec.LookPath("zstd")
	if err != nil {
		testenv.Missing(t, "needs the zstd CLI: run scripts/install-test-deps.sh")
		return
	}
	z, err := NewZstd(ZstdConfig{})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, size := range []int{0, 1000, 128<<10 + 1, 1<<20 + 3} {
		src := zstdPayload(size)
		file := fmt.Sprintf("%s/in%d", dir, size)
		if err := writeFile(file, src); err != nil {
			t.Fatal(err)
		}
		for _, args := range [][]string{{"-1"}, {"-9"}, {"-16"}, {"-19", "-T2"}, {"-3", "--no-check", "--long=24"}, {"-1", "-B65536", "-T2"}} {
			for _, pipe := range []bool{false, true} {
				var cmd *exec.Cmd
				if pipe {
					cmd = exec.Command(cli, append([]string{"-q", "-c"}, args...)...)
					cmd.Stdin = bytes.NewReader(src)
				} else {
					cmd = exec.Command(cli, append(append([]string{"-q", "-c"}, args...), file)...)
				}
				frame, err := cmd.Output()
				if err != nil {
					t.Fatalf("zstd %v: %v", args, err)
				}
				name := fmt.Sprintf("zstd %v pipe=%v", args, pipe)
				decodesWhole(t, z.codec, name, frame, src, DefaultMaxDecompressedSize)
				decodesWhole(t, z.codec, name+" at the cap", frame, src, max(size, 1))
			}
		}
	}
}

func writeFile(name string, b []byte) error { return os.WriteFile(name, b, 0o600) }

// TestZstdStreamedFramesUpToTheCap: frames without a content size whose blocks are
// shorter than a whole block (a stream flushed every 50 KB, the reference encoder's split
// blocks from a pipe) decode whole under a cap of exactly their size, with the decoder
// configured for that cap, and one byte less refuses them with ErrDecompressedTooLarge.
// Before, counting each compressed block as 128 KiB refused them (a 1 MiB stream flushed
// every 50 KB was bounded at 2.6 MiB), whatever they made.
func TestZstdStreamedFramesUpToTheCap(t *testing.T) {
	frames := map[string][]byte{}
	var want []byte
	for _, w := range []int{1 << 10, 128 << 10, 1 << 20} {
		src := zstdPayload(1<<20 + 3)
		want = src
		enc, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1), zstd.WithWindowSize(w))
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		enc.Reset(&b)
		for i := 0; i < len(src); i += 50 << 10 {
			enc.Write(src[i:min(i+50<<10, len(src))])
			enc.Flush()
		}
		if err := enc.Close(); err != nil {
			t.Fatal(err)
		}
		frames[fmt.Sprintf("klauspost stream flushed, window %d", w)] = b.Bytes()
	}
	if cli, err := exec.LookPath("zstd"); err != nil {
		if testenv.Strict() {
			t.Fatalf("needs the zstd CLI (%s is set): run scripts/install-test-deps.sh", testenv.NoSkipEnv)
		}
		t.Log("zstd CLI not installed: its frame left out")
	} else {
		cmd := exec.Command(cli, "-q", "-c", "-16", "--zstd=wlog=20")
		cmd.Stdin = bytes.NewReader(want)
		out, err := cmd.Output()
		if err != nil {
			t.Fatal(err)
		}
		frames["zstd -16 from a pipe"] = out
	}
	for name, frame := range frames {
		if frame == nil {
			continue
		}
		for _, tc := range []struct {
			frame []byte
			want  []byte
		}{
			{frame, want},
			{append(append(bytes.Clone(frame), 0x50, 0x2A, 0x4D, 0x18, 2, 0, 0, 0, 9, 9), frame...), append(bytes.Clone(want), want...)},
		} {
			z, err := NewZstd(ZstdConfig{MaxDecompressedSize: len(tc.want)})
			if err != nil {
				t.Fatal(err)
			}
			out, err := z.codec.decompress(tc.frame, len(tc.want))
			if err != nil || !bytes.Equal(out, tc.want) {
				t.Errorf("%s: %d bytes under a cap of %d: got %d, %v", name, len(tc.want), len(tc.want), len(out), err)
			}
			z, _ = NewZstd(ZstdConfig{MaxDecompressedSize: len(tc.want) - 1})
			if _, err := z.codec.decompress(tc.frame, len(tc.want)-1); !errors.Is(err, ErrDecompressedTooLarge) {
				t.Errorf("%s: %d bytes under a cap of one less: %v, want ErrDecompressedTooLarge", name, len(tc.want), err)
			}
		}
	}
}

// TestZstdCountedStreamBound: a frame without a content size whose blocks could make more
// than the cap (and a block) is decoded once, into a buffer of the cap and a block, by a
// decoder that stops after the block passing the cap: a 7 KB frame of 64 MiB with a
// window the size of the cap is refused having allocated under the cap plus 256 KiB (the
// bound of bombs; 137 KiB over the cap measured, 427 KiB when it was first counted as a
// stream, then decoded).
func TestZstdCountedStreamBound(t *testing.T) {
	for _, limit := range []int{1 << 20, 8 << 20} {
		z, err := NewZstd(ZstdConfig{MaxDecompressedSize: limit})
		if err != nil {
			t.Fatal(err)
		}
		bomb := streamedZstdWindow(t, 64<<20, limit)
		z.codec.decompress(bomb, limit) // warm the decoder
		got := allocated(func() { _, err = z.codec.decompress(bomb, limit) })
		if !errors.Is(err, ErrDecompressedTooLarge) {
			t.Fatalf("cap %d: err = %v, want ErrDecompressedTooLarge", limit, err)
		}
		if got > uint64(limit)+peakSlack {
			t.Errorf("cap %d: a %d-byte frame of 64 MiB: %d bytes allocated", limit, len(bomb), got)
		}
	}
}
