package interceptors

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"runtime"
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
// MaxDecompressedSize and a block (frames without a content size count each compressed
// block as a whole block; where that passes the cap, they are decoded into a buffer of
// the cap, the decoder stopping there, or, with a small window, counted as a stream first;
// one of those whose window passes what is left under the cap is decoded under a window
// of what is left, its buffer at most an eighth larger where the frame header cannot name
// that window). A frame's window
// costs nothing beyond its output: one larger than the cap decodes when its content is
// within it. A frame naming
// a dictionary is refused (an error wrapping ErrCorrupt and zstd.ErrUnknownDictionary),
// and so is one declaring a window past 2 GiB, the largest an encoder writes (an error
// wrapping ErrCorrupt and zstd.ErrWindowSizeExceeded).
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
	dec, err := newZstdDecoder()
	if err != nil {
		return nil, configError("zstd: %v", err)
	}
	z := &Zstd{cfg: cfg}
	z.acceptNonMembers = cfg.AcceptNonMembers
	cd := &zstdCodec{enc: enc, dec: dec, capped: make(chan *zstd.Decoder, runtime.GOMAXPROCS(0))}
	if err := z.init("zstd", cd, cfg.Flag, cfg.MinSize, cfg.MaxDecompressedSize); err != nil {
		return nil, err
	}
	return z, nil
}

// Config returns the configuration in use (defaults filled in).
func (z *Zstd) Config() ZstdConfig { return z.cfg }

type zstdCodec struct {
	enc *zstd.Encoder
	// dec decodes a message into a buffer of the size its headers bound, which bounds
	// what it writes. Its window is not limited by the cap: DecodeAll's history is its
	// output, so a frame's window costs nothing beyond what the frame makes.
	dec *zstd.Decoder
	// capped holds idle decoders for frames without a content size whose headers bound
	// them past the cap (decodeCapped); nil keeps none.
	capped chan *zstd.Decoder
}

// zstdMaxWindow is the largest window a frame may declare: the reference encoder's
// largest (--long=31), where an int holds it; nextZstdFrame refuses more.
const zstdMaxWindow = min(1<<31, math.MaxInt)

func newZstdDecoder() (*zstd.Decoder, error) {
	return zstd.NewReader(nil,
		zstd.WithDecoderConcurrency(0),
		zstd.WithDecoderMaxWindow(zstdMaxWindow),
		zstd.WithDecoderMaxMemory(zstdMaxWindow), // the decoder takes the smaller as its window limit
		zstd.WithDecodeAllCapLimit(true))
}

func (z *zstdCodec) compress(src []byte) ([]byte, error) {
	return z.enc.EncodeAll(src, make([]byte, 0, len(src)/2+64)), nil
}

func (z *zstdCodec) decompress(src []byte, maxLen int) ([]byte, error) {
	// The bound is ours, not the decoder's: the headers tell the most the frames expand
	// to, and the output buffer is allocated once at that size (the decoder limited to
	// it), so that neither a frame lying about its size nor frames without one make the
	// decoder grow its output past the cap, whatever its memory limit.
	sz, err := scanZstd(src, maxLen)
	if err != nil {
		return nil, err
	}
	size := sz.most + sz.over
	if zstdExactIsSafe(sz.most, maxLen) {
		size = sz.most
	}
	if size > uint64(maxLen)+zstdCappedSlack-zstdOverAlloc {
		// Only frames without a content size get here: their compressed blocks could
		// make more than the cap (and a block), which a compressed block shorter than its
		// frame's maximum (a stream flushed, the reference encoder's split blocks, a
		// frame's last block) does not. Where counting them as a stream would hold
		// about the cap anyway (its window, with what raw and RLE blocks make), they are
		// decoded once into a buffer of the cap; otherwise they are counted first, keeping
		// nothing, and then decoded into a buffer of their size.
		if min(sz.window, uint64(maxLen))+sz.least+zstdMaxBlock >= uint64(maxLen) {
			return z.decodeCapped(src, maxLen)
		}
		n, err := zstdCount(src, maxLen)
		if err != nil {
			return nil, err
		}
		size = n
	}
	// A buffer of the bound (within the cap and a block), or of the count, costs no more
	// than decodeCapped's, and takes any window.
	out, err := z.dec.DecodeAll(src, make([]byte, 0, size+zstdOverAlloc))
	return zstdResult(out, err, maxLen)
}

// zstdExactIsSafe tells whether the output of frames announcing their content size may
// be allocated at exactly that size, most. A frame that lies makes more than that; the
// decoder grows its buffer by copying, a few times within the block that passes it
// (append's growth, a quarter at least each time), and stops after that block: about
// six times most and a block in all. Where eight times that is within the cap, the
// buffer is exact; elsewhere it has room for one block past most (zstdSizes.over), so
// that it never grows.
func zstdExactIsSafe(most uint64, maxLen int) bool {
	return 8*(most+2*zstdMaxBlock) <= uint64(maxLen)
}

// zstdCappedSlack is how far decodeCapped's output may run past the cap before the
// decoder notices: a block, and the least window it gives a frame.
const zstdCappedSlack = zstd.MinWindowSize + zstdMaxBlock + zstdOverAlloc

// decodeCapped decodes src, whose headers bound it past maxLen and a block, in one pass into a buffer
// of maxLen and zstdCappedSlack: each frame announcing its content size by z.dec (at most
// a block past its announced size, within what is left under the cap), each without one
// by a decoder whose limit is what is left under the cap, which it checks after each
// block. That decoder takes no window past its limit; a frame's window only bounds how
// far back its matches reach, though, never past what the frame made, so one whose window
// passes what is left is decoded under a window of its own, the smallest its header can
// name of at least what is left (zstdNarrowWindow): its content decodes the same if it is
// within what is left, and is refused (ErrDecompressedTooLarge) only once it may pass
// that (a failure in a block that may end past that window is checked again under the
// frame's own: recheckNarrowed). The buffer then has room for that window and a block: the cap's where what is
// left is a window the header can name (a power of two, or one and a quarter, one and a
// half... of one), at most an eighth more elsewhere.
func (z *zstdCodec) decodeCapped(src []byte, maxLen int) ([]byte, error) {
	var out []byte
	all := src
	// room makes out hold n more bytes and zstdOverAlloc, allocated once at what
	// zstdCappedRoom plans for all the frames, so that it never grows by a copy (a
	// fallback only, should the plan fall short).
	room := func(n uint64) {
		need := uint64(len(out)) + n + zstdOverAlloc
		if out != nil && uint64(cap(out)) >= need {
			return
		}
		size := need
		if out == nil {
			size = max(zstdCappedRoom(all, maxLen), need)
		}
		grown := make([]byte, len(out), size)
		copy(grown, out)
		out = grown
	}
	var d *zstd.Decoder
	defer func() {
		if d != nil {
			z.putCapped(d)
		}
	}()
	for frames := 0; len(src) > 0; frames++ {
		left := uint64(maxLen - len(out))
		f, err := nextZstdFrame(src, frames, left)
		if err != nil {
			return nil, err
		}
		frame := src[:f.n:f.n] // no room past it: the next frames are not a recheck's to write
		src = src[f.n:]
		switch {
		case f.h.Skippable:
			continue
		case f.h.HasFCS:
			room(0)
			out, err = z.dec.DecodeAll(frame, out)
		default:
			limit := max(left, zstd.MinWindowSize)
			desc := frame[5] // the Window_Descriptor: a frame without a content size has one
			if f.h.WindowSize > limit {
				frame, limit = zstdNarrowWindow(frame, f.h.WindowSize, limit)
			}
			narrowed := limit < f.h.WindowSize
			room(limit + zstdMaxBlock)
			if d == nil {
				if d, err = z.getCapped(); err != nil {
					return nil, fmt.Errorf("%w: zstd: %w", ErrCorrupt, err)
				}
			}
			start := len(out)
			if err = d.ResetWithOptions(nil, zstd.WithDecoderMaxMemory(limit)); err == nil {
				out, err = d.DecodeAll(frame, out)
			}
			if narrowed && err != nil && !errors.Is(err, zstd.ErrCRCMismatch) &&
				!errors.Is(err, zstd.ErrDecoderSizeExceeded) && uint64(len(out)-start)+zstdMaxBlock > limit {
				// A match reaching past the narrowed window comes after the frame made
				// more than it, so more than what is left (zstdNarrowWindow): possibly
				// in the block that failed, which may make a block. A failure in a
				// block that ends within the window, or of the checksum (every block
				// decoded as under the frame's own window), is the frame's own.
				out, err = recheckNarrowed(d, frame, desc, f.h.HeaderSize, out, start, left, frames, err)
				if err != nil {
					return nil, err
				}
			}
		}
		if len(out) > maxLen {
			return zstdResult(out, nil, maxLen)
		}
		if err != nil {
			return zstdResult(out, err, maxLen)
		}
	}
	if out == nil {
		out = []byte{}
	}
	return out, nil
}

// zstdCappedRoom is the buffer decodeCapped allocates for src, whose frames' headers
// nextZstdFrame takes, under maxLen: the cap and zstdCappedSlack, and room for the
// window and a block of each frame decoded under a narrowed window (zstdNarrowWindow)
// past what the frames before it made. Those make exactly what they announce where they
// all announce it (the decoder checks it), so the room is exact; after a frame without a
// content size, what is left is known only between what its headers bound, and the
// narrowed window passes what is left by less than an eighth of itself (the
// descriptor's step) wherever it is.
func zstdCappedRoom(src []byte, maxLen int) uint64 {
	limit := uint64(maxLen)
	room := limit + zstdCappedSlack
	var lo, hi uint64 // what the frames before make, at least and at most (within the cap)
	for frames := 0; len(src) > 0 && lo <= limit; frames++ {
		f, err := nextZstdFrame(src, frames, limit-lo)
		if err != nil {
			break // decodeCapped refuses it there
		}
		src = src[f.n:]
		if f.h.Skippable {
			continue
		}
		if !f.h.HasFCS {
			leftMost, leftLeast := limit-lo, limit-min(hi, limit)
			if f.h.WindowSize > max(leftLeast, zstd.MinWindowSize) {
				w, _ := zstdNamedWindow(max(leftMost, zstd.MinWindowSize))
				w = min(w, f.h.WindowSize)
				need := hi + w // exact where lo == hi: before + its window
				if lo != hi {
					need = limit + w/8
				}
				room = max(room, need+zstdMaxBlock+zstdOverAlloc)
			}
		}
		lo, hi = lo+f.least, min(hi+f.most, limit)
	}
	return room
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

// zstdResult returns out, or the decoder's error classified, or ErrDecompressedTooLarge
// for output past maxLen.
func zstdResult(out []byte, err error, maxLen int) ([]byte, error) {
	if errors.Is(err, zstd.ErrDecoderSizeExceeded) {
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

func (z *zstdCodec) getCapped() (*zstd.Decoder, error) {
	select {
	case d := <-z.capped:
		return d, nil
	default:
		return zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecodeAllCapLimit(true),
			zstd.WithDecoderMaxWindow(zstdMaxWindow))
	}
}

func (z *zstdCodec) putCapped(d *zstd.Decoder) {
	select {
	case z.capped <- d:
	default:
		d.Close()
	}
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
