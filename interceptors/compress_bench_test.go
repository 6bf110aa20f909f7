package interceptors

import (
	"fmt"
	"testing"
)

// BenchmarkCodecs compares the three compression interceptors' codecs on realistic
// session-replication payloads. MB/s counts uncompressed bytes; "ratio" is
// uncompressed/compressed.
//
//	go test -run '^$' -bench Codecs -benchtime 200x ./interceptors/
func BenchmarkCodecs(b *testing.B) {
	g, _ := NewGzip(GzipConfig{})
	z, _ := NewZstd(ZstdConfig{})
	s, _ := NewS2(S2Config{})
	codecs := []struct {
		name string
		cd   codec
	}{{"gzip", g.codec}, {"zstd", z.codec}, {"s2", s.codec}}
	for _, size := range []int{1 << 10, 64 << 10} {
		src := sessionPayload(size, 42)
		for _, c := range codecs {
			comp, err := c.cd.compress(src)
			if err != nil {
				b.Fatal(err)
			}
			ratio := float64(len(src)) / float64(len(comp))
			b.Run(fmt.Sprintf("%dKiB/%s/compress", size>>10, c.name), func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(len(src)))
				for b.Loop() {
					if _, err := c.cd.compress(src); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(ratio, "ratio")
			})
			b.Run(fmt.Sprintf("%dKiB/%s/decompress", size>>10, c.name), func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(len(src)))
				for b.Loop() {
					if _, err := c.cd.decompress(comp, DefaultMaxDecompressedSize); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(ratio, "ratio")
			})
		}
	}
}
