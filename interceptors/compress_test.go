package interceptors

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
)

// sessionPayload is deterministic, realistic session-replication data: JSON-ish attribute
// records with ids, timestamps, SKUs and some words. It compresses like real traffic, not
// like zeros or noise.
func sessionPayload(size int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	words := []string{"cart", "checkout", "user", "locale", "en_GB", "currency", "EUR", "shipping",
		"express", "wishlist", "discount", "coupon", "summer", "premium", "guest", "return"}
	var b bytes.Buffer
	for b.Len() < size {
		var id [16]byte
		for i := range id {
			id[i] = byte(r.Uint32())
		}
		fmt.Fprintf(&b, `{"session":"%s","ts":%d,"attr":"%s.%s","sku":"SKU-%06d","qty":%d,"note":"%s %s %s"},`,
			hex.EncodeToString(id[:]), 1700000000000+r.Int64N(1e9), words[r.IntN(len(words))], words[r.IntN(len(words))],
			r.IntN(1000000), r.IntN(20), words[r.IntN(len(words))], words[r.IntN(len(words))], words[r.IntN(len(words))])
	}
	return b.Bytes()[:size]
}

type codecCase struct {
	name string
	flag channel.SendOptions
	mk   func(min, maxOut int) channel.Interceptor
}

var codecCases = []codecCase{
	{"gzip", OptGzip, func(min, maxOut int) channel.Interceptor {
		g, _ := NewGzip(GzipConfig{MinSize: min, MaxDecompressedSize: maxOut})
		return g
	}},
	{"zstd", OptZstd, func(min, maxOut int) channel.Interceptor {
		z, _ := NewZstd(ZstdConfig{MinSize: min, MaxDecompressedSize: maxOut})
		return z
	}},
	{"s2", OptS2, func(min, maxOut int) channel.Interceptor {
		s, _ := NewS2(S2Config{MinSize: min, MaxDecompressedSize: maxOut})
		return s
	}},
}

type statser interface{ Stats() CompressionStats }

// Every codec round-trips over the in-memory network; compressed messages carry the flag
// on the wire and the receiver sees the original bytes (with the flag still set).
func TestCompressionRoundTrip(t *testing.T) {
	for _, cc := range codecCases {
		t.Run(cc.name, func(t *testing.T) {
			nw := channeltest.NewNetwork()
			a, b := newNode(t, nw, cc.mk(0, 0)), newNode(t, nw, cc.mk(0, 0))
			startNodes(t, a, b)
			sizes := []int{0, 1, 100, 1 << 10, 64 << 10, 1 << 20}
			for i, size := range sizes {
				data := sessionPayload(size, uint64(i))
				a.send(t, b, data, channel.OptUseAck)
				got := b.messages()[i]
				if !bytes.Equal(got.Data, data) {
					t.Fatalf("size %d: content differs", size)
				}
				wire := a.tap.sent()[i]
				compressed := wire.Options&cc.flag != 0
				if size == 0 && compressed {
					t.Fatalf("an empty message was compressed")
				}
				if (size >= 1<<10 || size > 0 && cc.flag == OptGzip) && !compressed {
					t.Fatalf("size %d: not compressed on the wire", size)
				}
				if compressed && got.Options&cc.flag == 0 {
					t.Fatalf("the flag was cleared on receipt")
				}
				if compressed && size >= 1<<10 && len(wire.Data) >= size {
					t.Fatalf("size %d: %d bytes on the wire", size, len(wire.Data))
				}
			}
			ss := findStats(t, a)
			if ss.Compressed < 3 || ss.Ratio() < 1.5 {
				t.Fatalf("sender stats %+v ratio %.2f", ss, ss.Ratio())
			}
		})
	}
}

func findStats(t *testing.T, n *tnode) CompressionStats {
	t.Helper()
	// The codec is the first interceptor built by newNode; reach it through the tap.
	for _, ic := range chainAbove(n.tap) {
		if s, ok := ic.(statser); ok {
			return s.Stats()
		}
	}
	t.Fatal("no compression interceptor")
	return CompressionStats{}
}

// Messages of at most MinSize bytes go out as they are (Tomcat compressionMinSize).
func TestCompressionMinSize(t *testing.T) {
	for _, cc := range codecCases {
		t.Run(cc.name, func(t *testing.T) {
			nw := channeltest.NewNetwork()
			a, b := newNode(t, nw, cc.mk(2000, 0)), newNode(t, nw, cc.mk(0, 0))
			startNodes(t, a, b)
			small, large := sessionPayload(2000, 1), sessionPayload(2001, 1)
			a.send(t, b, small, 0)
			a.send(t, b, large, 0)
			w := a.tap.sent()
			if w[0].Options&cc.flag != 0 || !bytes.Equal(w[0].Data, small) {
				t.Fatalf("2000 bytes with minSize 2000 were compressed")
			}
			if w[1].Options&cc.flag == 0 {
				t.Fatalf("2001 bytes with minSize 2000 were not compressed")
			}
			if got := b.payloads(); !bytes.Equal(got[0], small) || !bytes.Equal(got[1], large) {
				t.Fatal("content differs")
			}
		})
	}
}

// Tomcat's gzip compresses whatever its size; zstd and s2 send incompressible data plain.
func TestCompressionIncompressible(t *testing.T) {
	noise := make([]byte, 4096)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range noise {
		noise[i] = byte(r.Uint32())
	}
	for _, cc := range codecCases {
		t.Run(cc.name, func(t *testing.T) {
			nw := channeltest.NewNetwork()
			a, b := newNode(t, nw, cc.mk(0, 0)), newNode(t, nw, cc.mk(0, 0))
			startNodes(t, a, b)
			a.send(t, b, noise, 0)
			flagged := a.tap.sent()[0].Options&cc.flag != 0
			if flagged != (cc.flag == OptGzip) {
				t.Fatalf("noise flagged=%v", flagged)
			}
			if !bytes.Equal(b.payloads()[0], noise) {
				t.Fatal("content differs")
			}
		})
	}
}

// The bytes Java's GzipInterceptor writes for "hello" (spec 9.3) decode, and what we
// write is a standard gzip member.
func TestGzipJavaSample(t *testing.T) {
	javaHello, _ := hex.DecodeString("1f8b08000000000000ffcb48cdc9c9070086a6103605000000")
	g, err := NewGzip(GzipConfig{})
	if err != nil {
		t.Fatal(err)
	}
	out, err := g.codec.decompress(javaHello, 1<<20)
	if err != nil || string(out) != "hello" {
		t.Fatalf("decompress(java) = %q, %v", out, err)
	}
	z, err := g.codec.compress([]byte("hello"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(z, []byte{0x1f, 0x8b, 8}) {
		t.Fatalf("not a gzip member: %x", z)
	}
	zr, err := gzip.NewReader(bytes.NewReader(z))
	if err != nil {
		t.Fatal(err)
	}
	var plain bytes.Buffer
	if _, err := plain.ReadFrom(zr); err != nil || plain.String() != "hello" {
		t.Fatalf("%q %v", plain.String(), err)
	}
	// Two concatenated members (java.util.zip reads them; so must we).
	two := append(append([]byte(nil), z...), javaHello...)
	if out, err := g.codec.decompress(two, 1<<20); err != nil || string(out) != "hellohello" {
		t.Fatalf("multi-member: %q %v", out, err)
	}
}

func zeros(n int) []byte { return make([]byte, n) }

// bombs returns a compressed payload of `size` zero bytes for each codec.
func bomb(t *testing.T, name string, size int) []byte {
	t.Helper()
	switch name {
	case "gzip":
		var b bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&b, gzip.BestSpeed)
		chunk := zeros(1 << 20)
		for range size >> 20 {
			zw.Write(chunk)
		}
		zw.Close()
		return b.Bytes()
	case "zstd":
		// A streamed frame has no content size in its header: the decoder must stop by itself.
		var b bytes.Buffer
		zw, _ := zstd.NewWriter(&b, zstd.WithEncoderConcurrency(1))
		chunk := zeros(1 << 20)
		for range size >> 20 {
			zw.Write(chunk)
		}
		zw.Close()
		return b.Bytes()
	case "s2":
		return (&s2Codec{}).mustCompress(zeros(size))
	}
	t.Fatal(name)
	return nil
}

func (c *s2Codec) mustCompress(b []byte) []byte {
	z, err := c.compress(b)
	if err != nil {
		panic(err)
	}
	return z
}

func mustCompress(t *testing.T, cd codec, b []byte) []byte {
	t.Helper()
	z, err := cd.compress(b)
	if err != nil {
		t.Fatal(err)
	}
	return z
}

// A message that expands beyond MaxDecompressedSize is refused without allocating more
// than the cap and a small constant (peakSlack; it was 4x the cap), and the sender of a sync-ack message gets a FAIL_ACK.
func TestDecompressionBomb(t *testing.T) {
	const limit = 1 << 20
	const bombSize = 64 << 20
	for _, cc := range codecCases {
		t.Run(cc.name, func(t *testing.T) {
			z := bomb(t, cc.name, bombSize)
			var cd codec
			switch ic := cc.mk(0, limit).(type) {
			case *Gzip:
				cd = ic.codec
			case *Zstd:
				cd = ic.codec
			case *S2:
				cd = ic.codec
			}
			// Warm the pools so that the measurement sees only the decoding: the bomb's
			// own too (zstd's decoders for frames without a content size are pooled apart).
			if _, err := cd.decompress(mustCompress(t, cd, zeros(1<<20)), limit); err != nil {
				t.Fatal(err)
			}
			_, _ = cd.decompress(z, limit)
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			_, err := cd.decompress(z, limit)
			runtime.ReadMemStats(&after)
			if !errors.Is(err, ErrDecompressedTooLarge) {
				t.Fatalf("err = %v, want ErrDecompressedTooLarge", err)
			}
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > limit+peakSlack {
				t.Fatalf("allocated %d bytes refusing a %d-byte bomb with a %d-byte cap", alloc, bombSize, limit)
			}

			// Through the channel: the receiver refuses it, a sync-ack sender learns it.
			nw := channeltest.NewNetwork()
			a := newNode(t, nw, cc.mk(0, 0))
			b := newNode(t, nw, cc.mk(0, limit))
			startNodes(t, a, b)
			err = a.ch.Send(t.Context(), []channel.Member{b.member()}, zeros(limit+1), channel.OptUseAck|channel.OptSyncAck)
			if !errors.Is(err, channel.ErrAckFailed) {
				t.Fatalf("send of an over-limit message: %v, want ErrAckFailed", err)
			}
			if len(b.messages()) != 0 || findStats(t, b).DecompressErrors != 1 {
				t.Fatalf("delivered %d, stats %+v", len(b.messages()), findStats(t, b))
			}
			a.send(t, b, zeros(limit), channel.OptUseAck|channel.OptSyncAck) // exactly the cap passes
		})
	}
}

// Corrupt payloads are errors (never panics), counted.
func TestDecompressCorrupt(t *testing.T) {
	for _, cc := range codecCases {
		t.Run(cc.name, func(t *testing.T) {
			nw := channeltest.NewNetwork()
			b := newNode(t, nw, cc.mk(0, 0))
			startNodes(t, b)
			for _, junk := range [][]byte{nil, []byte("definitely not compressed"), {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff, 1, 2, 3}} {
				err := b.tap.inject(&channel.Message{Options: cc.flag, ID: channel.NewMessageID(), Data: junk})
				if err == nil {
					t.Fatalf("junk %x accepted", junk)
				}
			}
			if len(b.messages()) != 0 {
				t.Fatal("junk delivered")
			}
		})
	}
}

func TestCompressionConfig(t *testing.T) {
	ics, err := Build("gzip(compressionMinSize=10;level=1), zstd(level=best;maxDecompressedSize=1024), s2(level=better;optionFlag=0x800)", nil)
	if err != nil {
		t.Fatal(err)
	}
	if c := ics[0].(*Gzip).Config(); c.MinSize != 10 || c.Level != 1 || c.Flag != OptGzip || c.MaxDecompressedSize != 64<<20 {
		t.Fatalf("gzip %+v", c)
	}
	if c := ics[1].(*Zstd).Config(); c.Level != zstd.SpeedBestCompression || c.MaxDecompressedSize != 1024 || c.Flag != OptZstd {
		t.Fatalf("zstd %+v", c)
	}
	if c := ics[2].(*S2).Config(); c.Level != S2Better || c.Flag != 0x800 {
		t.Fatalf("s2 %+v", c)
	}
	for _, bad := range []string{"gzip(level=42)", "zstd(level=ultra)", "s2(level=9)", "gzip(compressionMinSize=-1)"} {
		if _, err := Build(bad, nil); !errors.Is(err, channel.ErrInvalidConfig) {
			t.Errorf("Build(%q) = %v", bad, err)
		}
	}
}

// A gzip trailer that lies about the size does not make the decoder allocate the cap.
func TestGzipLyingSize(t *testing.T) {
	g, _ := NewGzip(GzipConfig{})
	z := mustCompress(t, g.codec, []byte("tiny"))
	copy(z[len(z)-4:], []byte{0xf0, 0xff, 0xff, 0x03}) // ISIZE ≈ 64 MiB
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err := g.codec.decompress(z, DefaultMaxDecompressedSize)
	runtime.ReadMemStats(&after)
	if err == nil {
		t.Fatal("a wrong ISIZE was accepted")
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 1<<20 {
		t.Fatalf("allocated %d bytes for a %d-byte message", alloc, len(z))
	}
}
