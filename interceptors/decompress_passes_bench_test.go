package interceptors

import (
	"bytes"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// flushedZstd is src written as a zstd stream flushed every `every` bytes: no content
// size in its header and blocks shorter than a whole block, so that its block headers
// bound it above what it makes.
func flushedZstd(tb testing.TB, src []byte, every int) []byte {
	tb.Helper()
	var b bytes.Buffer
	enc, err := zstd.NewWriter(&b, zstd.WithEncoderConcurrency(1), zstd.WithWindowSize(1<<20))
	if err != nil {
		tb.Fatal(err)
	}
	for i := 0; i < len(src); i += every {
		enc.Write(src[i:min(i+every, len(src))])
		enc.Flush()
	}
	if err := enc.Close(); err != nil {
		tb.Fatal(err)
	}
	return b.Bytes()
}

// BenchmarkDecompressPasses measures the messages the codecs may decode in more than one
// pass (zstd frames without a content size whose block headers bound them past the cap,
// gzip members following each other, whose last trailer understates the whole) and a 129 KiB message of the Zstd
// interceptor's own, with allocations:
//
//	go test -run '^$' -bench DecompressPasses -benchmem ./interceptors/
func BenchmarkDecompressPasses(b *testing.B) {
	z, _ := NewZstd(ZstdConfig{})
	g, _ := NewGzip(GzipConfig{})
	mib := zstdPayload(1<<20 + 3)
	eight := zstdPayload(8 << 20)
	var members []byte
	for i := range 4 {
		members = append(members, mustCompressB(b, g.codec, sessionPayload(256<<10, uint64(i)))...)
	}
	own := mustCompressB(b, z.codec, sessionPayload(129<<10, 42))
	for _, bc := range []struct {
		name   string
		cd     codec
		in     []byte
		maxLen int
		size   int
	}{
		{"zstd/1MiB-flushed-50KB/cap-its-size", z.codec, flushedZstd(b, mib, 50<<10), len(mib), len(mib)},
		{"zstd/8MiB-flushed-10KB/cap-64MiB", z.codec, flushedZstd(b, eight, 10<<10), DefaultMaxDecompressedSize, len(eight)},
		{"zstd/129KiB-own/cap-64MiB", z.codec, own, DefaultMaxDecompressedSize, 129 << 10},
		{"gzip/4-members-of-256KiB/cap-64MiB", g.codec, members, DefaultMaxDecompressedSize, 1 << 20},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(bc.size))
			for b.Loop() {
				out, err := bc.cd.decompress(bc.in, bc.maxLen)
				if err != nil || len(out) != bc.size {
					b.Fatalf("%d bytes, %v", len(out), err)
				}
			}
		})
	}
}

func mustCompressB(tb testing.TB, cd codec, src []byte) []byte {
	tb.Helper()
	z, err := cd.compress(src)
	if err != nil {
		tb.Fatal(err)
	}
	return z
}
