package interceptors

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"sync"

	"github.com/klauspost/compress/gzip"

	"github.com/gotribes/tribes/channel"
)

// GzipConfig configures a Gzip interceptor. The zero value is Tomcat's default plus a
// decompression limit.
type GzipConfig struct {
	// MinSize: messages of at most MinSize bytes are sent uncompressed (Tomcat
	// compressionMinSize, default 0: every non-empty message is compressed).
	MinSize int
	// Level is the gzip level, gzip.BestSpeed (1) … gzip.BestCompression (9); 0 means
	// gzip.DefaultCompression, klauspost's level 5 (Java's GZIPOutputStream uses zlib's
	// default, level 6; either side reads the other's bytes).
	Level int
	// MaxDecompressedSize refuses received messages that expand beyond it (no Tomcat
	// equivalent; default DefaultMaxDecompressedSize, 64 MiB).
	MaxDecompressedSize int
	// AcceptNonMembers decompresses the messages of senders that are not members of the
	// channel also where the channel checks senders (InterceptorBase.SendersChecked). By
	// default such a message is refused with an error wrapping channel.ErrNotMember before
	// it is decompressed (Stats().NonMember), since the channel would drop it anyway; a
	// channel with channel.Config.AcceptNonMembers, or without a Membership, has every
	// message decompressed. Set it when a channel.NonMemberListener takes non-members'
	// compressed messages (no Tomcat equivalent; default false).
	AcceptNonMembers bool
	// Flag is the option bit marking compressed messages (Tomcat optionFlag; default
	// OptGzip, 0x0100). Both ends must agree.
	Flag channel.SendOptions
}

// Gzip is Tribes' GzipInterceptor: messages longer than MinSize are gzip-compressed on the
// way down and flagged with 0x0100; flagged messages are gunzipped on the way up (the flag
// stays set). The bytes are standard gzip members, readable by java.util.zip and the other
// way round, so Gzip interoperates with Java's GzipInterceptor. Writers and readers are
// pooled; decompression stops at MaxDecompressedSize.
type Gzip struct {
	compression
	cfg GzipConfig
}

// NewGzip returns a Gzip interceptor.
func NewGzip(cfg GzipConfig) (*Gzip, error) {
	if cfg.Level == 0 {
		cfg.Level = gzip.DefaultCompression
	}
	if cfg.Flag == 0 {
		cfg.Flag = OptGzip
	}
	if cfg.MaxDecompressedSize == 0 {
		cfg.MaxDecompressedSize = DefaultMaxDecompressedSize
	}
	cd, err := newGzipCodec(cfg.Level)
	if err != nil {
		return nil, err
	}
	g := &Gzip{cfg: cfg}
	g.acceptNonMembers = cfg.AcceptNonMembers
	if err := g.init("gzip", cd, cfg.Flag, cfg.MinSize, cfg.MaxDecompressedSize); err != nil {
		return nil, err
	}
	g.always = true // as Tomcat: whatever the result, a message above MinSize is compressed
	return g, nil
}

// Config returns the configuration in use (defaults filled in).
func (g *Gzip) Config() GzipConfig { return g.cfg }

type gzipCodec struct {
	writers sync.Pool // *gzip.Writer at the codec's level
	buffers sync.Pool // *bytes.Buffer for compressed output
	readers sync.Pool // *gzipReader
	level   int
}

// maxDeflateRatio bounds how much deflate can expand its input (258-byte matches coded in
// about two bits).
const maxDeflateRatio = 1032

type gzipReader struct {
	src bytes.Reader
	zr  *gzip.Reader
}

func newGzipCodec(level int) (*gzipCodec, error) {
	if _, err := gzip.NewWriterLevel(io.Discard, level); err != nil {
		return nil, configError("gzip: level %d: %v", level, err)
	}
	return &gzipCodec{level: level}, nil
}

func (g *gzipCodec) compress(src []byte) ([]byte, error) {
	buf, _ := g.buffers.Get().(*bytes.Buffer)
	if buf == nil {
		buf = new(bytes.Buffer)
	}
	buf.Reset()
	zw, _ := g.writers.Get().(*gzip.Writer)
	if zw == nil {
		zw, _ = gzip.NewWriterLevel(buf, g.level) // level checked in newGzipCodec
	} else {
		zw.Reset(buf)
	}
	_, err := zw.Write(src)
	if err == nil {
		err = zw.Close()
	}
	g.writers.Put(zw)
	var out []byte
	if err == nil {
		out = bytes.Clone(buf.Bytes())
	}
	if buf.Cap() <= 4<<20 { // don't keep huge buffers alive
		g.buffers.Put(buf)
	}
	return out, err
}

func (g *gzipCodec) decompress(src []byte, maxLen int) ([]byte, error) {
	r, _ := g.readers.Get().(*gzipReader)
	if r == nil {
		r = new(gzipReader)
	}
	defer g.readers.Put(r)
	open := func() (io.Reader, error) {
		r.src.Reset(src)
		var err error
		if r.zr == nil {
			r.zr, err = gzip.NewReader(&r.src)
		} else {
			err = r.zr.Reset(&r.src)
		}
		if err != nil {
			r.zr = nil
			return nil, fmt.Errorf("%w: gzip header: %w", ErrCorrupt, err)
		}
		return r.zr, nil
	}
	// ISIZE, the last four bytes, is the size of the (last) member modulo 2^32: a good
	// first guess, never trusted beyond what deflate can produce from src (at most about
	// 1032:1), so that a lying trailer cannot make us allocate the whole cap up front.
	hint := 0
	if len(src) >= 18 {
		hint = min(int(binary.LittleEndian.Uint32(src[len(src)-4:])), len(src)*maxDeflateRatio)
	}
	out, err := readCapped(open, hint, maxLen)
	if err != nil {
		r.zr = nil // a reader that failed mid-stream is not reused
		return nil, err
	}
	return out, nil
}

func init() {
	Register("gzip", func(p *Props) (channel.Interceptor, error) {
		return NewGzip(GzipConfig{
			MinSize:             p.Int("compressionMinSize", 0),
			Level:               p.Int("level", 0),
			MaxDecompressedSize: p.Int("maxDecompressedSize", DefaultMaxDecompressedSize),
			AcceptNonMembers:    p.Bool("acceptNonMembers", false),
			Flag:                channel.SendOptions(p.Int("optionFlag", int(OptGzip))),
		})
	})
}
