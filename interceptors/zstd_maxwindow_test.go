package interceptors

import (
	"bytes"
	"errors"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// withWindowDescriptor returns frame, which is not single segment, with its
// Window_Descriptor set to desc (exponent e<<3, mantissa m: 2^(10+e) × (1+m/8)).
func withWindowDescriptor(t *testing.T, frame []byte, desc byte) []byte {
	t.Helper()
	var h zstd.Header
	if err := h.Decode(frame); err != nil || h.SingleSegment {
		t.Fatalf("header %+v, %v", h, err)
	}
	out := bytes.Clone(frame)
	out[5] = desc
	return out
}

// TestZstdWindowPast2GiBRefusedOnEveryPath: a frame declaring a window larger than 2 GiB
// (2^31 and an eighth, a Window_Descriptor no encoder writes: the reference CLI's largest
// is --long=31, 2^31) is refused with an error wrapping ErrCorrupt and
// zstd.ErrWindowSizeExceeded whichever way it would be decoded: with a content size, and
// without one whose blocks are bounded within the cap (the decoder refuses the window)
// and past it (decoded under a window narrowed to what is left: there it decoded
// before). A window of exactly 2^31 decodes on both paths: the zstd CLI's --long=31 of
// 100 KiB from a pipe, and that frame's window on klauspost's flushed stream.
func TestZstdWindowPast2GiBRefusedOnEveryPath(t *testing.T) {
	const past, at = 21<<3 | 1, 21 << 3 // 2^31·(1+1/8), 2^31
	src := zstdPayload(100 << 10)
	// Flushed every 10 KB: 11 compressed blocks bounded at 128 KiB each by their headers,
	// past a cap of the content's size (decodeCapped), within the default one.
	flushed := flushedZstd(t, src, 10_000)
	withSize := withContentSize(t, flushed, uint32(len(src)))
	frames := map[string][]byte{
		"klauspost's flushed stream":                   flushed,
		"that stream with its content size written in": withSize,
	}
	if cli := zstdCLI(t, src, "--long=31"); cli != nil {
		frames["zstd --long=31 from a pipe"] = cli
	}
	for name, f := range frames {
		var h zstd.Header
		if err := h.Decode(f); err != nil || h.SingleSegment {
			t.Fatalf("%s: header %+v, %v", name, h, err)
		}
		for _, limit := range []int{len(src), DefaultMaxDecompressedSize} {
			z, _ := NewZstd(ZstdConfig{MaxDecompressedSize: limit})
			big := withWindowDescriptor(t, f, past)
			if _, err := z.codec.decompress(big, limit); !errors.Is(err, ErrCorrupt) ||
				!errors.Is(err, zstd.ErrWindowSizeExceeded) || errors.Is(err, ErrDecompressedTooLarge) {
				t.Errorf("%s, window 2^31+2^28, cap %d: %v, want ErrCorrupt and zstd.ErrWindowSizeExceeded", name, limit, err)
			}
			ok := withWindowDescriptor(t, f, at)
			if out, err := z.codec.decompress(ok, limit); err != nil || !bytes.Equal(out, src) {
				t.Errorf("%s, window 2^31, cap %d: %d bytes, %v, want its %d", name, limit, len(out), err, len(src))
			}
		}
	}
}
