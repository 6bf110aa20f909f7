package interceptors

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"

	"github.com/gotribes/tribes/channel"
)

// DefaultMaxDecompressedSize caps what one compressed message may expand to (no Tomcat
// equivalent: Java inflates without a limit). It equals the transport's default frame limit.
const DefaultMaxDecompressedSize = 64 << 20

// ErrDecompressedTooLarge is wrapped by the error for a compressed message that would expand
// beyond the configured maximum (a "zip bomb"). The decoder stops at the cap; it never
// allocates more.
var ErrDecompressedTooLarge = errors.New("tribes: decompressed message too large")

// ErrCorrupt is wrapped by decoding errors of compressed payloads.
var ErrCorrupt = errors.New("tribes: corrupt compressed message")

// CompressionStats are the counters of a compression interceptor.
type CompressionStats struct {
	Compressed       uint64 // messages sent compressed
	SentPlain        uint64 // messages sent uncompressed (too small, or not smaller compressed)
	TxBytesIn        uint64 // payload bytes of the compressed messages before compression
	TxBytesOut       uint64 // … and after
	Decompressed     uint64 // received messages decompressed
	RxBytesIn        uint64 // compressed bytes received
	RxBytesOut       uint64 // … and what they expanded to
	DecompressErrors uint64 // received messages refused (corrupt or too large)
	NonMember        uint64 // received compressed messages of non-members refused before decompressing
}

// Ratio is the compression ratio of the sent messages (uncompressed / compressed bytes), or 0.
func (s CompressionStats) Ratio() float64 {
	if s.TxBytesOut == 0 {
		return 0
	}
	return float64(s.TxBytesIn) / float64(s.TxBytesOut)
}

// codec is one compression format.
type codec interface {
	// compress returns src compressed into a new slice owned by the caller.
	compress(src []byte) ([]byte, error)
	// decompress returns src expanded, refusing output larger than maxLen.
	decompress(src []byte, maxLen int) ([]byte, error)
}

// compression is the interceptor logic shared by Gzip, Zstd and S2: compress messages
// longer than minSize on the way down and mark them with the flag; expand flagged
// messages on the way up. The flag stays set on received messages, as in Tomcat.
type compression struct {
	channel.InterceptorBase

	name    string
	codec   codec
	minSize int
	maxSize int
	always  bool // compress even when the result is not smaller (Tomcat's gzip behaviour)
	// acceptNonMembers decompresses the messages of senders that are not members also
	// where the channel checks senders (the configs' AcceptNonMembers).
	acceptNonMembers bool

	compressed, plain, txIn, txOut      atomic.Uint64
	decompressed, rxIn, rxOut, rxErrors atomic.Uint64
	nonMember                           atomic.Uint64
}

func (c *compression) SendMessage(ctx context.Context, to []channel.Member, msg *channel.Message) error {
	if len(msg.Data) <= c.minSize {
		c.plain.Add(1)
		return c.Next().SendMessage(ctx, to, msg)
	}
	z, err := c.codec.compress(msg.Data)
	if err != nil {
		return fmt.Errorf("tribes: %s: %w", c.name, err)
	}
	if len(z) >= len(msg.Data) && !c.always {
		// Not worth it. The receiver only decodes flagged messages, so this is safe.
		c.plain.Add(1)
		return c.Next().SendMessage(ctx, to, msg)
	}
	c.compressed.Add(1)
	c.txIn.Add(uint64(len(msg.Data)))
	c.txOut.Add(uint64(len(z)))
	data, opts := msg.Data, msg.Options
	msg.Data, msg.Options = z, opts|c.Flag
	err = c.Next().SendMessage(ctx, to, msg)
	msg.Data, msg.Options = data, opts
	return err
}

func (c *compression) MessageReceived(msg *channel.Message) error {
	if msg.Options&c.Flag == 0 {
		return c.Prev().MessageReceived(msg)
	}
	// A stranger's message is refused before it is expanded (up to maxSize from a frame
	// a thousandth of it), as the channel would drop it once expanded.
	if c.SendersChecked() && !c.acceptNonMembers && !fromChannelMember(c, msg.Source) {
		c.nonMember.Add(1)
		return notMemberError(c.name, msg)
	}
	out, err := c.codec.decompress(msg.Data, c.maxSize)
	if err != nil {
		c.rxErrors.Add(1)
		return fmt.Errorf("tribes: %s: message %s from %s: %w", c.name, msg.IDString(), msg.Source.Addr(), err)
	}
	c.decompressed.Add(1)
	c.rxIn.Add(uint64(len(msg.Data)))
	c.rxOut.Add(uint64(len(out)))
	msg.Data = out
	return c.Prev().MessageReceived(msg)
}

// Stats returns a snapshot of the counters.
func (c *compression) Stats() CompressionStats {
	return CompressionStats{
		Compressed: c.compressed.Load(), SentPlain: c.plain.Load(),
		TxBytesIn: c.txIn.Load(), TxBytesOut: c.txOut.Load(),
		Decompressed: c.decompressed.Load(), RxBytesIn: c.rxIn.Load(), RxBytesOut: c.rxOut.Load(),
		DecompressErrors: c.rxErrors.Load(), NonMember: c.nonMember.Load(),
	}
}

func (c *compression) init(name string, cd codec, flag channel.SendOptions, minSize, maxSize int) error {
	if minSize < 0 {
		return configError("%s: negative minimum size %d", name, minSize)
	}
	if maxSize == 0 {
		maxSize = DefaultMaxDecompressedSize
	}
	if maxSize < 0 {
		return configError("%s: negative maximum decompressed size %d", name, maxSize)
	}
	if flag == 0 {
		return configError("%s: the option flag must not be 0", name)
	}
	c.name, c.codec, c.minSize, c.maxSize = name, cd, minSize, maxSize
	c.Flag = flag
	return nil
}

// readCapped reads the stream open returns to its end, refusing one of more than maxLen
// bytes with ErrDecompressedTooLarge, and allocates about maxLen at most on the way: no
// buffer grows by copying. It reads into a buffer of the hinted size (at most maxLen+1);
// when the stream goes on past it, it counts the rest through a small scratch buffer,
// keeping nothing, refuses it as soon as the count passes maxLen, and otherwise reads the
// stream again, from open, into a buffer of its exact size. A good hint costs one pass;
// a bad one two, and a bomb no more than the hint and the scratch buffer.
func readCapped(open func() (io.Reader, error), hint, maxLen int) ([]byte, error) {
	r, err := open()
	if err != nil {
		return nil, err
	}
	buf := make([]byte, 0, min(max(hint, 511)+1, maxLen+1)) // +1: room to see EOF
	buf, done, err := readFill(r, buf)
	if err != nil || done {
		return capped(buf, maxLen, err)
	}
	total := len(buf)
	buf = nil
	scratch := make([]byte, 32<<10)
	for {
		n, err := r.Read(scratch)
		total += n
		if total > maxLen {
			return nil, fmt.Errorf("%w: more than %d bytes", ErrDecompressedTooLarge, maxLen)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
		}
	}
	if r, err = open(); err != nil {
		return nil, err
	}
	buf, done, err = readFill(r, make([]byte, 0, total+1))
	if err == nil && (!done || len(buf) != total) {
		err = fmt.Errorf("%w: a second read made other bytes", ErrCorrupt)
	}
	return capped(buf, maxLen, err)
}

// readFill reads r into buf up to its capacity; done tells it met the end of r.
func readFill(r io.Reader, buf []byte) (_ []byte, done bool, _ error) {
	for len(buf) < cap(buf) {
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, true, nil
		}
		if err != nil {
			return nil, false, fmt.Errorf("%w: %w", ErrCorrupt, err)
		}
	}
	return buf, false, nil
}

// capped returns buf, or the error of reading it, or ErrDecompressedTooLarge past maxLen.
func capped(buf []byte, maxLen int, err error) ([]byte, error) {
	if err != nil {
		return nil, err
	}
	if len(buf) > maxLen {
		return nil, fmt.Errorf("%w: more than %d bytes", ErrDecompressedTooLarge, maxLen)
	}
	return buf, nil
}
