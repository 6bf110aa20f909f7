package interceptors

import (
	"bytes"
	"errors"
	"testing"
)

// corruptLastBlock returns good, a frame without a content size, with a byte of its last
// compressed block changed so that its first pass under the window narrowed to limit fails
// near that window (recheckNarrowed then decodes it again), or nil.
func corruptLastBlock(tb testing.TB, good []byte, limit int) []byte {
	tb.Helper()
	starts := zstdCompressedBlocks(tb, good)
	last := starts[len(starts)-1]
	end := last + 3 + (int(good[last])|int(good[last+1])<<8|int(good[last+2])<<16)>>3
	for i := end - 1; i > last+3; i-- {
		b := bytes.Clone(good)
		b[i] ^= 0x5a
		if made, w, err := narrowedFirstPass(tb, b, limit); failsNearTheWindow(made, w, err, limit) {
			return b
		}
	}
	return nil
}

// BenchmarkZstdRecheck measures what recheckNarrowed's decodes cost a message against
// one of the same size decoded once: the worst messages built for it (a frame of raw
// literals whose compressed block is larger than the narrowed window, its content kept
// after a second and third decode; a 1 MiB frame with a 128 MiB window corrupt in its
// last block, decoded again up to that block before ErrCorrupt) and the same bytes
// decoded without a recheck. SetBytes is the cap (the content, or what is left):
//
//	go test -run '^$' -bench ZstdRecheck -benchmem ./interceptors/
func BenchmarkZstdRecheck(b *testing.B) {
	const small = 120 << 10 // a window a header names exactly, under a block
	content := zstdPayload(1 << 20)
	z, _ := NewZstd(ZstdConfig{})
	third := rawLiteralsZstdFrame(b, content[:small-1], []int{small - 2, 1}, false)
	second := rawLiteralsZstdFrame(b, content[:small], []int{small - 2, 2}, false)
	good := window128MiB(b, flushedZstd(b, content, 100_000))
	bad := corruptLastBlock(b, good, len(content))
	if bad == nil {
		b.Fatal("no byte of the last block makes the first pass fail near the window")
	}
	for _, bc := range []struct {
		name   string
		in     []byte
		maxLen int
		size   int   // what it makes, or what is left where it fails
		want   error // nil: its size
	}{
		{"120KiB/announced/once", mustCompressB(b, z.codec, content[:small]), small, small, nil},
		{"120KiB/raw-literals/window-fits", third, 1 << 20, small - 1, nil},
		{"120KiB/raw-literals/rechecked-second-decode", second, small, small, nil},
		{"120KiB/raw-literals/rechecked-third-decode", third, small, small - 1, nil},
		{"1MiB/128MiB-window/once", good, len(content), len(content), nil},
		{"1MiB/128MiB-window/corrupt-last-block-rechecked", bad, len(content), len(content), ErrCorrupt},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(bc.size))
			for b.Loop() {
				out, err := z.codec.decompress(bc.in, bc.maxLen)
				if bc.want != nil && !errors.Is(err, bc.want) || bc.want == nil && (err != nil || len(out) != bc.size) {
					b.Fatalf("%d bytes, %v, want %v", len(out), err, bc.want)
				}
			}
		})
	}
}
