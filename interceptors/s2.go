package interceptors

import (
	"encoding/binary"
	"fmt"
	"strings"
	"sync"

	"github.com/klauspost/compress/s2"

	"github.com/gotribes/tribes/channel"
)

// S2Level selects the S2 encoder.
type S2Level int

const (
	// S2Fast is s2.Encode (default): about 1.4 GB/s, half gzip's ratio.
	S2Fast S2Level = iota
	// S2Better is s2.EncodeBetter: slower, a little smaller.
	S2Better
	// S2Best is s2.EncodeBest: much slower, smallest.
	S2Best
)

// S2Config configures an S2 interceptor.
type S2Config struct {
	// MinSize: messages of at most MinSize bytes are sent uncompressed. Default 0.
	MinSize int
	// Level selects the encoder (default S2Fast).
	Level S2Level
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
	// Flag is the option bit marking S2-compressed messages (default OptS2, 0x0400).
	Flag channel.SendOptions
}

// S2 compresses messages with S2 (a faster Snappy), like Gzip but on its own option bit
// (0x0400). It is not part of Java Tribes: use it only between Go nodes. It is the cheapest
// codec, for fast networks where CPU matters more than bytes. A message that would not get
// smaller is sent as it is, unflagged.
type S2 struct {
	compression
	cfg S2Config
}

// NewS2 returns an S2 interceptor.
func NewS2(cfg S2Config) (*S2, error) {
	if cfg.Flag == 0 {
		cfg.Flag = OptS2
	}
	if cfg.MaxDecompressedSize == 0 {
		cfg.MaxDecompressedSize = DefaultMaxDecompressedSize
	}
	if cfg.Level < S2Fast || cfg.Level > S2Best {
		return nil, configError("s2: unknown level %d", cfg.Level)
	}
	s := &S2{cfg: cfg}
	s.acceptNonMembers = cfg.AcceptNonMembers
	if err := s.init("s2", &s2Codec{level: cfg.Level}, cfg.Flag, cfg.MinSize, cfg.MaxDecompressedSize); err != nil {
		return nil, err
	}
	return s, nil
}

// Config returns the configuration in use (defaults filled in).
func (s *S2) Config() S2Config { return s.cfg }

type s2Codec struct {
	level S2Level
	bufs  sync.Pool // *[]byte scratch of MaxEncodedLen
}

func (c *s2Codec) compress(src []byte) ([]byte, error) {
	need := s2.MaxEncodedLen(len(src))
	if need < 0 {
		return nil, fmt.Errorf("message of %d bytes too large", len(src))
	}
	bp, _ := c.bufs.Get().(*[]byte)
	if bp == nil || cap(*bp) < need {
		b := make([]byte, need)
		bp = &b
	}
	var z []byte
	switch c.level {
	case S2Better:
		z = s2.EncodeBetter((*bp)[:need], src)
	case S2Best:
		z = s2.EncodeBest((*bp)[:need], src)
	default:
		z = s2.Encode((*bp)[:need], src)
	}
	out := append([]byte(nil), z...)
	if cap(*bp) <= 4<<20 {
		c.bufs.Put(bp)
	}
	return out, nil
}

func (c *s2Codec) decompress(src []byte, maxLen int) ([]byte, error) {
	n, err := s2.DecodedLen(src)
	if err != nil {
		return nil, fmt.Errorf("%w: s2: %w", ErrCorrupt, err)
	}
	if n > maxLen {
		return nil, fmt.Errorf("%w: block announces %d bytes, limit %d", ErrDecompressedTooLarge, n, maxLen)
	}
	_, header := binary.Uvarint(src) // DecodedLen checked it: 1 to 5 bytes
	if got, ok := s2BlockLen(src[header:], n); !ok || got != n {
		return nil, fmt.Errorf("%w: s2: the block's tags do not make the %d bytes it announces", ErrCorrupt, n)
	}
	out, err := s2.Decode(make([]byte, n), src)
	if err != nil {
		return nil, fmt.Errorf("%w: s2: %w", ErrCorrupt, err)
	}
	return out, nil
}

func parseS2Level(s string) (S2Level, error) {
	switch strings.ToLower(s) {
	case "", "fast", "default":
		return S2Fast, nil
	case "better":
		return S2Better, nil
	case "best":
		return S2Best, nil
	}
	return 0, fmt.Errorf("unknown s2 level %q (fast, better, best)", s)
}

func init() {
	Register("s2", func(p *Props) (channel.Interceptor, error) {
		lvl, err := parseS2Level(p.String("level", "fast"))
		if err != nil {
			return nil, err
		}
		return NewS2(S2Config{
			MinSize:             p.Int("compressionMinSize", 0),
			Level:               lvl,
			MaxDecompressedSize: p.Int("maxDecompressedSize", DefaultMaxDecompressedSize),
			AcceptNonMembers:    p.Bool("acceptNonMembers", false),
			Flag:                channel.SendOptions(p.Int("optionFlag", int(OptS2))),
		})
	})
}
