package interceptors

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/klauspost/compress/zstd"

	"github.com/gotribes/tribes/channel"
)

// ZstdConfig configures a Zstd interceptor.
type ZstdConfig struct {
	// MinSize: messages of at most MinSize bytes are sent uncompressed. Default 0.
	MinSize int
	// Level is the encoder level; 0 means zstd.SpeedFastest, which matches gzip's default
	// ratio at two to three times its speed.
	Level zstd.EncoderLevel
	// MaxDecompressedSize refuses received messages that expand beyond it (default
	// DefaultMaxDecompressedSize, 64 MiB).
	MaxDecompressedSize int
	// AcceptNonMembers decompresses the messages of senders that are not members of the
	// channel also where the channel checks senders (InterceptorBase.SendersChecked). By
	// default such a message is refused with an error wrapping channel.ErrNotMember before
	// it is decompressed (Stats().NonMember), since the channel would drop it anyway; a
	// channel with channel.Config.AcceptNonMembers, or without a Membership, has every
	// message decompressed. Set it when a channel.NonMemberListener takes non-members'
	// compressed messages (no Tomcat equivalent; default false).
	AcceptNonMembers bool
	// Flag is the option bit marking zstd-compressed messages (default OptZstd, 0x0200).
	Flag channel.SendOptions
}

// Zstd compresses messages with Zstandard, like Gzip but on its own option bit (0x0200).
// It is not part of Java Tribes: use it only between Go nodes. A message that would not
// get smaller is sent as it is, unflagged. One encoder and one decoder serve all
// goroutines. What a received message expands to is bounded from its frame and block
// headers before it is decoded, and its output is allocated once, at most
// MaxDecompressedSize (frames without a content size count each compressed block as a
// whole block; where that passes the cap, they are first decoded as a stream to count
// their size, keeping nothing).
type Zstd struct {
	compression
	cfg ZstdConfig
}

// NewZstd returns a Zstd interceptor.
func NewZstd(cfg ZstdConfig) (*Zstd, error) {
	if cfg.Level == 0 {
		cfg.Level = zstd.SpeedFastest
	}
	if cfg.Flag == 0 {
		cfg.Flag = OptZstd
	}
	if cfg.MaxDecompressedSize == 0 {
		cfg.MaxDecompressedSize = DefaultMaxDecompressedSize
	}
	if cfg.MaxDecompressedSize < 0 {
		return nil, configError("zstd: negative maximum decompressed size")
	}
	enc, err := zstd.NewWriter(nil,
		zstd.WithEncoderLevel(cfg.Level),
		zstd.WithEncoderConcurrency(1),
		zstd.WithLowerEncoderMem(true),
		zstd.WithWindowSize(1<<20))
	if err != nil {
		return nil, configError("zstd: %v", err)
	}
	dec, err := zstd.NewReader(nil,
		zstd.WithDecoderConcurrency(0),
		zstd.WithDecoderMaxMemory(uint64(cfg.MaxDecompressedSize)),
		zstd.WithDecodeAllCapLimit(true))
	if err != nil {
		return nil, configError("zstd: %v", err)
	}
	z := &Zstd{cfg: cfg}
	z.acceptNonMembers = cfg.AcceptNonMembers
	if err := z.init("zstd", &zstdCodec{enc: enc, dec: dec}, cfg.Flag, cfg.MinSize, cfg.MaxDecompressedSize); err != nil {
		return nil, err
	}
	return z, nil
}

// Config returns the configuration in use (defaults filled in).
func (z *Zstd) Config() ZstdConfig { return z.cfg }

type zstdCodec struct {
	enc *zstd.Encoder
	dec *zstd.Decoder
}

func (z *zstdCodec) compress(src []byte) ([]byte, error) {
	return z.enc.EncodeAll(src, make([]byte, 0, len(src)/2+64)), nil
}

func (z *zstdCodec) decompress(src []byte, maxLen int) ([]byte, error) {
	var h zstd.Header
	if err := h.Decode(src); err != nil {
		return nil, fmt.Errorf("%w: zstd header: %w", ErrCorrupt, err)
	}
	if h.HasFCS && h.FrameContentSize > uint64(maxLen) {
		return nil, fmt.Errorf("%w: frame announces %d bytes, limit %d", ErrDecompressedTooLarge, h.FrameContentSize, maxLen)
	}
	// The bound is ours, not the decoder's: the headers tell the most the frames expand
	// to, and the output buffer is allocated once at that size (the decoder limited to
	// it), so that neither a frame lying about its size nor frames without one make the
	// decoder grow its output past the cap, whatever its memory limit.
	sz, err := scanZstd(src, maxLen)
	if err != nil {
		return nil, err
	}
	size := sz.most + sz.over
	if sz.most > uint64(maxLen) {
		// Only frames without a content size get here: their compressed blocks could
		// make more than the cap, which a compressed block shorter than its frame's
		// maximum (a stream flushed, the reference encoder's split blocks, a frame's
		// last block) does not. Their size is counted by decoding them as a stream,
		// keeping nothing, and then they are decoded into a buffer of that size.
		n, err := zstdCount(src, maxLen)
		if err != nil {
			return nil, err
		}
		size = n
	}
	out, err := z.dec.DecodeAll(src, make([]byte, 0, size+zstdOverAlloc))
	if errors.Is(err, zstd.ErrDecoderSizeExceeded) || errors.Is(err, zstd.ErrWindowSizeExceeded) {
		return nil, fmt.Errorf("%w: %w (limit %d)", ErrDecompressedTooLarge, err, maxLen)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	if len(out) > maxLen {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrDecompressedTooLarge, len(out), maxLen)
	}
	return out, nil
}

// zstdCount returns what src expands to, decoding it as a stream through a small buffer
// and keeping nothing, or ErrDecompressedTooLarge as soon as that passes maxLen. The
// stream decoder's memory is its frames' window, which it refuses past maxLen.
func zstdCount(src []byte, maxLen int) (uint64, error) {
	d, err := zstd.NewReader(bytes.NewReader(src),
		zstd.WithDecoderConcurrency(1),
		zstd.WithDecoderLowmem(true),
		zstd.WithDecoderMaxMemory(uint64(max(maxLen, 1))))
	if err != nil {
		return 0, fmt.Errorf("%w: zstd: %w", ErrCorrupt, err)
	}
	defer d.Close()
	// The limit hides the decoder's WriteTo, which would write past it.
	n, err := io.Copy(io.Discard, io.LimitReader(d, int64(maxLen)+1))
	if n > int64(maxLen) || errors.Is(err, zstd.ErrDecoderSizeExceeded) || errors.Is(err, zstd.ErrWindowSizeExceeded) {
		return 0, fmt.Errorf("%w: zstd frames without a content size make more than %d bytes", ErrDecompressedTooLarge, maxLen)
	}
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return uint64(n), nil
}

// zstdOverAlloc is the slack the decoder's fast paths want past the end of their output
// (its compressedBlockOverAlloc); without it they take slower, exact copies.
const zstdOverAlloc = 16

func parseZstdLevel(s string) (zstd.EncoderLevel, error) {
	switch strings.ToLower(s) {
	case "", "fastest":
		return zstd.SpeedFastest, nil
	case "default":
		return zstd.SpeedDefault, nil
	case "better":
		return zstd.SpeedBetterCompression, nil
	case "best":
		return zstd.SpeedBestCompression, nil
	}
	return 0, fmt.Errorf("unknown zstd level %q (fastest, default, better, best)", s)
}

func init() {
	Register("zstd", func(p *Props) (channel.Interceptor, error) {
		lvl, err := parseZstdLevel(p.String("level", "fastest"))
		if err != nil {
			return nil, err
		}
		return NewZstd(ZstdConfig{
			MinSize:             p.Int("compressionMinSize", 0),
			Level:               lvl,
			MaxDecompressedSize: p.Int("maxDecompressedSize", DefaultMaxDecompressedSize),
			AcceptNonMembers:    p.Bool("acceptNonMembers", false),
			Flag:                channel.SendOptions(p.Int("optionFlag", int(OptZstd))),
		})
	})
}
