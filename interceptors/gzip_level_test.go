package interceptors

import (
	"bytes"
	"testing"

	"github.com/klauspost/compress/gzip"
)

// gzipAt compresses data with klauspost's gzip writer at level.
func gzipAt(t *testing.T, data []byte, level int) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, level)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := zw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// The default gzip level is klauspost's DefaultCompression, which is its level 5, not the
// level 6 of zlib and of Java's GZIPOutputStream (docs/interceptors-transforms.md): a default Gzip
// writes the bytes of level 5, and those differ from level 6's for session data.
func TestGzipDefaultLevelIsKlauspostFive(t *testing.T) {
	g, err := NewGzip(GzipConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if g.Config().Level != gzip.DefaultCompression {
		t.Fatalf("default Level %d, want gzip.DefaultCompression", g.Config().Level)
	}
	data := sessionPayload(64<<10, 1)
	got, err := g.codec.compress(data)
	if err != nil {
		t.Fatal(err)
	}
	five, six := gzipAt(t, data, 5), gzipAt(t, data, 6)
	if bytes.Equal(five, six) {
		t.Fatal("levels 5 and 6 write the same bytes for this payload; the test cannot tell them apart")
	}
	if !bytes.Equal(got, five) {
		t.Fatalf("default Gzip wrote %d bytes, level 5 writes %d, level 6 %d", len(got), len(five), len(six))
	}
}
