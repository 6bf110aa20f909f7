package interceptors

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gotribes/tribes/channel"
)

// Defaults of Fragmentation, with Tomcat's attribute names.
const (
	// DefaultFragmentSize is maxSize: larger messages are split into pieces of this size.
	DefaultFragmentSize = 102400
	// DefaultFragmentExpire is expire: incomplete messages are dropped after this long.
	DefaultFragmentExpire = 60 * time.Second
	// DefaultMaxReassembledSize caps a reassembled message, and what one sender's
	// incomplete messages hold (no Tomcat equivalent).
	DefaultMaxReassembledSize = 256 << 20
	// DefaultFragmentPendingBytes caps what all senders' incomplete messages hold (no
	// Tomcat equivalent).
	DefaultFragmentPendingBytes = 1 << 30
)

// What the receiver counts against FragmentationConfig.MaxPendingBytes besides the chunks:
// the bookkeeping of each piece and of each incomplete message, so that pieces of a few
// bytes cannot make it hold many times the budget.
const (
	fragPieceCost   = 64
	fragMessageCost = 512
)

// Fragment trailer bytes.
const (
	fragWhole = 0x00 // the message is complete
	fragPiece = 0x01 // chunk | int32 index | int32 count | 0x01

	// FragmentTrailerLen is the trailer of one piece: index, count and the marker byte.
	FragmentTrailerLen = 4 + 4 + 1
)

// FragmentationConfig configures a Fragmentation interceptor. The zero value is Tomcat's
// default plus a reassembly limit.
type FragmentationConfig struct {
	// MaxSize: messages longer than MaxSize bytes are split into pieces of at most MaxSize
	// (Tomcat maxSize, default 102400).
	MaxSize int
	// Expire: pieces of a message that is still incomplete after Expire are dropped on the
	// next heartbeat (Tomcat expire, default 60 s).
	Expire time.Duration
	// MaxMessageSize caps the size of a message being reassembled and, together, the
	// bytes of all the incomplete messages of one sender: a piece beyond it is refused, so
	// one sender can make a receiver hold at most MaxMessageSize bytes of pieces, however
	// many message ids it starts (no Tomcat equivalent; default 256 MiB).
	MaxMessageSize int
	// MaxPendingBytes caps what the incomplete messages of all senders hold together,
	// counting each piece's bytes plus 64 and each message 512 more for the bookkeeping; a
	// piece beyond it is refused (no Tomcat equivalent; default 1 GiB, or 4 ×
	// MaxMessageSize if that is larger).
	MaxPendingBytes int
	// AcceptNonMembers collects the pieces of senders that are not members of the channel
	// (neither the local member nor one the chain below this interceptor lists, as the
	// channel's own sender check asks of the whole chain) also where the channel checks
	// senders (InterceptorBase.SendersChecked). By default such a piece is then refused
	// with an error wrapping channel.ErrNotMember before anything is held, since the
	// channel would drop the message anyway; a channel
	// with channel.Config.AcceptNonMembers, or without a Membership, has every piece
	// collected. Set it when a channel.NonMemberListener takes non-members' messages
	// larger than MaxSize (no Tomcat equivalent: Tribes collects every sender's pieces;
	// default false).
	AcceptNonMembers bool
	// Flag restricts splitting to messages carrying these option bits (Tomcat optionFlag,
	// default 0 = every message). The receiver always strips the trailer byte.
	Flag channel.SendOptions
}

// FragmentationStats are a Fragmentation interceptor's counters.
type FragmentationStats struct {
	SentWhole   uint64 // messages sent in one piece (trailer 00)
	SentSplit   uint64 // messages split
	PiecesSent  uint64 // pieces sent
	Reassembled uint64 // messages reassembled from pieces
	Expired     uint64 // incomplete messages dropped by the heartbeat
	Refused     uint64 // malformed pieces, pieces over MaxMessageSize or MaxPendingBytes, non-members' pieces
	NonMember   uint64 // pieces refused because their sender is not a member (also in Refused)
	Pending     int    // messages being reassembled now
}

// Fragmentation is Tribes' FragmentationInterceptor. Messages up to MaxSize get one trailer
// byte 00. Larger ones are sent as pieces with the same message id, each
// `chunk | int32 index | int32 count | 01` (big-endian). The receiver always strips the
// last byte; pieces are collected by sender and message id and the whole message is
// delivered (with the envelope of the first piece that arrived) once all are in. The bytes
// are Java's, so Fragmentation interoperates with Java's FragmentationInterceptor.
//
// It must sit below anything that transforms whole messages on the receiving side only
// after reassembly, and never below TcpFailureDetector (whose raw probes carry no trailer).
type Fragmentation struct {
	channel.InterceptorBase
	cfg FragmentationConfig

	mu      sync.Mutex
	pending map[fragKey]*fragCollection
	senders map[channel.MemberKey]int // chunk bytes held per sender
	cost    int                       // what pending holds, as MaxPendingBytes counts it

	whole, split, pieces, reassembled, expired, refused, nonMember atomic.Uint64
}

type fragKey struct {
	src channel.MemberKey
	id  string
}

type fragCollection struct {
	first  *channel.Message // envelope of the first piece that arrived
	count  int
	pieces map[int][]byte // by index; a map, so that memory follows what arrived
	size   int            // chunk bytes
	cost   int            // size plus bookkeeping, as MaxPendingBytes counts it
	born   time.Time
}

// NewFragmentation returns a Fragmentation interceptor.
func NewFragmentation(cfg FragmentationConfig) (*Fragmentation, error) {
	if cfg.MaxSize == 0 {
		cfg.MaxSize = DefaultFragmentSize
	}
	if cfg.Expire == 0 {
		cfg.Expire = DefaultFragmentExpire
	}
	if cfg.MaxMessageSize == 0 {
		cfg.MaxMessageSize = DefaultMaxReassembledSize
	}
	if cfg.MaxPendingBytes == 0 {
		cfg.MaxPendingBytes = DefaultFragmentPendingBytes
		if cfg.MaxMessageSize > math.MaxInt/4 {
			cfg.MaxPendingBytes = math.MaxInt
		} else if 4*cfg.MaxMessageSize > cfg.MaxPendingBytes {
			cfg.MaxPendingBytes = 4 * cfg.MaxMessageSize
		}
	}
	if cfg.MaxSize < 1 || cfg.Expire < 0 || cfg.MaxMessageSize < 0 || cfg.MaxPendingBytes < 0 {
		return nil, configError("fragmentation: MaxSize must be positive, Expire, MaxMessageSize and MaxPendingBytes not negative")
	}
	f := &Fragmentation{cfg: cfg, pending: map[fragKey]*fragCollection{}, senders: map[channel.MemberKey]int{}}
	f.Flag = cfg.Flag
	return f, nil
}

// Config returns the configuration in use (defaults filled in).
func (f *Fragmentation) Config() FragmentationConfig { return f.cfg }

// SendMessage appends the trailer, splitting msg into pieces if it is longer than MaxSize.
// Pieces go out one after the other; a member that failed a piece gets no further pieces.
// A multicast (no destinations) is split the same way, every piece multicast; the first
// piece that fails ends it with that error. The pieces share one OnComplete, which calls
// msg's once (see MessageDispatch).
func (f *Fragmentation) SendMessage(ctx context.Context, to []channel.Member, msg *channel.Message) error {
	if len(msg.Data) <= f.cfg.MaxSize || !f.OKToProcess(msg.Options) {
		f.whole.Add(1)
		data := msg.Data
		msg.Data = append(append(make([]byte, 0, len(data)+1), data...), fragWhole)
		err := f.Next().SendMessage(ctx, to, msg)
		msg.Data = data
		return err
	}
	f.split.Add(1)
	count := (len(msg.Data) + f.cfg.MaxSize - 1) / f.cfg.MaxSize
	done := newCompletion(msg)
	var faulty []channel.FaultyMember
	bad := map[channel.MemberKey]bool{}
	for i := range count {
		dst := without(to, bad)
		if len(dst) == 0 && len(to) > 0 {
			break
		}
		c := *msg
		c.Data = fragmentPiece(msg.Data, f.cfg.MaxSize, i, count)
		c.OnComplete = done.part(dst)
		f.pieces.Add(1)
		err := f.Next().SendMessage(ctx, dst, &c)
		done.settle(dst, err)
		if err != nil && len(to) == 0 {
			// A multicast: the rest of the message is of no use without this piece.
			return done.sent(err)
		}
		for _, fm := range channel.AppendFaulty(nil, err, dst) {
			if !bad[fm.Member.Key()] {
				bad[fm.Member.Key()] = true
				faulty = append(faulty, fm)
			}
		}
	}
	return done.sent(channel.NewSendError(msg.ID, faulty))
}

// SplitFragments cuts data into ceil(len/maxSize) pieces with Tribes' piece trailer.
func SplitFragments(data []byte, maxSize int) [][]byte {
	count := (len(data) + maxSize - 1) / maxSize
	out := make([][]byte, count)
	for i := range count {
		out[i] = fragmentPiece(data, maxSize, i, count)
	}
	return out
}

// fragmentPiece returns piece i of count of data, with its trailer, in a new slice.
func fragmentPiece(data []byte, maxSize, i, count int) []byte {
	chunk := data[i*maxSize : min((i+1)*maxSize, len(data))]
	p := make([]byte, 0, len(chunk)+FragmentTrailerLen)
	p = append(p, chunk...)
	p = binary.BigEndian.AppendUint32(p, uint32(i))
	p = binary.BigEndian.AppendUint32(p, uint32(count))
	return append(p, fragPiece)
}

// ErrBadFragment is wrapped by the errors about a piece whose index or count is
// impossible, or whose count disagrees with its message's earlier pieces. A piece beyond
// the reassembly bounds (MaxMessageSize, MaxPendingBytes) is refused with an error
// wrapping channel.ErrMessageTooLarge.
var ErrBadFragment = errors.New("tribes: fragmentation: malformed piece")

// ParseFragment reads the trailer of a received payload. For a whole message it returns
// piece=false and the data without the marker byte; for a piece, its chunk, index and
// count. As in Java any non-zero marker means a piece.
func ParseFragment(b []byte) (chunk []byte, piece bool, index, count int, err error) {
	if len(b) < 1 {
		return nil, false, 0, 0, fmt.Errorf("%w: empty message, fragmentation trailer needs 1 byte", ErrShortMessage)
	}
	n := len(b) - 1
	if b[n] == fragWhole {
		return b[:n], false, 0, 0, nil
	}
	if n < 8 {
		return nil, true, 0, 0, fmt.Errorf("%w: %d bytes, a fragment trailer needs %d", ErrShortMessage, len(b), FragmentTrailerLen)
	}
	idx := int32(binary.BigEndian.Uint32(b[n-8:]))
	cnt := int32(binary.BigEndian.Uint32(b[n-4:]))
	if cnt < 1 || idx < 0 || idx >= cnt {
		return nil, true, 0, 0, fmt.Errorf("%w: piece %d of %d", ErrBadFragment, idx, cnt)
	}
	return b[:n-8], true, int(idx), int(cnt), nil
}

// MessageReceived strips the trailer; pieces are collected until the message is complete.
func (f *Fragmentation) MessageReceived(msg *channel.Message) error {
	chunk, piece, idx, count, err := ParseFragment(msg.Data)
	if err != nil {
		f.refused.Add(1)
		return fmt.Errorf("tribes: fragmentation: message %s from %s: %w", msg.IDString(), msg.Source.Addr(), err)
	}
	if !piece {
		msg.Data = chunk
		return f.Prev().MessageReceived(msg)
	}
	if f.SendersChecked() && !f.cfg.AcceptNonMembers && !fromChannelMember(f, msg.Source) {
		f.refused.Add(1)
		f.nonMember.Add(1)
		return notMemberError("fragmentation", msg)
	}
	whole, err := f.collect(msg, chunk, idx, count)
	if err != nil {
		f.refused.Add(1)
		return fmt.Errorf("tribes: fragmentation: message %s from %s: %w", msg.IDString(), msg.Source.Addr(), err)
	}
	if whole == nil {
		return nil
	}
	f.reassembled.Add(1)
	return f.Prev().MessageReceived(whole)
}

// collect adds a piece and returns the whole message once complete.
func (f *Fragmentation) collect(msg *channel.Message, chunk []byte, idx, count int) (*channel.Message, error) {
	// A message of count pieces is at least count-1 bytes long (all but the last piece
	// hold something, as Tribes cuts them).
	if count-1 > f.cfg.MaxMessageSize {
		return nil, fmt.Errorf("%w: %d pieces exceed the %d-byte reassembly limit", channel.ErrMessageTooLarge, count, f.cfg.MaxMessageSize)
	}
	key := fragKey{src: msg.Source.Key(), id: string(msg.ID)}
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.pending[key]
	fresh := c == nil
	if fresh {
		c = &fragCollection{first: msg, count: count, pieces: map[int][]byte{}, born: time.Now()}
	}
	if c.count != count {
		f.drop(key, c)
		return nil, fmt.Errorf("%w: piece %d says %d pieces, earlier ones said %d", ErrBadFragment, idx, count, c.count)
	}
	if _, dup := c.pieces[idx]; dup {
		return nil, nil // a duplicate: keep the first copy
	}
	if c.size+len(chunk) > f.cfg.MaxMessageSize {
		f.drop(key, c)
		return nil, fmt.Errorf("%w: reassembled message exceeds %d bytes", channel.ErrMessageTooLarge, f.cfg.MaxMessageSize)
	}
	if held := f.senders[key.src]; held+len(chunk) > f.cfg.MaxMessageSize {
		// Refuse this piece only: the sender's other messages may still complete.
		return nil, fmt.Errorf("%w: the sender's incomplete messages would hold %d bytes, over MaxMessageSize %d",
			channel.ErrMessageTooLarge, held+len(chunk), f.cfg.MaxMessageSize)
	}
	cost := len(chunk) + fragPieceCost
	if fresh {
		cost += fragMessageCost
	}
	if f.cost+cost > f.cfg.MaxPendingBytes {
		return nil, fmt.Errorf("%w: incomplete messages would hold %d bytes, over MaxPendingBytes %d", channel.ErrMessageTooLarge, f.cost+cost, f.cfg.MaxPendingBytes)
	}
	if fresh {
		f.pending[key] = c
	}
	c.pieces[idx] = chunk
	c.size += len(chunk)
	c.cost += cost
	f.cost += cost
	f.senders[key.src] += len(chunk)
	if len(c.pieces) < count {
		return nil, nil
	}
	f.drop(key, c)
	data := make([]byte, 0, c.size)
	for i := range count {
		data = append(data, c.pieces[i]...)
	}
	whole := c.first
	whole.Data = data
	return whole, nil
}

// drop forgets collection c under key, and what it held. Caller holds f.mu.
func (f *Fragmentation) drop(key fragKey, c *fragCollection) {
	if f.pending[key] != c {
		return // never added
	}
	delete(f.pending, key)
	f.cost -= c.cost
	if n := f.senders[key.src] - c.size; n > 0 {
		f.senders[key.src] = n
	} else {
		delete(f.senders, key.src)
	}
}

// Heartbeat drops messages that stayed incomplete longer than Expire.
func (f *Fragmentation) Heartbeat() {
	now := time.Now()
	f.mu.Lock()
	for k, c := range f.pending {
		if now.Sub(c.born) > f.cfg.Expire {
			f.drop(k, c)
			f.expired.Add(1)
		}
	}
	f.mu.Unlock()
	f.Next().Heartbeat()
}

// Stats returns a snapshot of the counters.
func (f *Fragmentation) Stats() FragmentationStats {
	f.mu.Lock()
	n := len(f.pending)
	f.mu.Unlock()
	return FragmentationStats{
		SentWhole: f.whole.Load(), SentSplit: f.split.Load(), PiecesSent: f.pieces.Load(),
		Reassembled: f.reassembled.Load(), Expired: f.expired.Load(), Refused: f.refused.Load(),
		NonMember: f.nonMember.Load(), Pending: n,
	}
}

func init() {
	Register("fragmentation", func(p *Props) (channel.Interceptor, error) {
		return NewFragmentation(FragmentationConfig{
			MaxSize:          p.Int("maxSize", DefaultFragmentSize),
			Expire:           p.Duration("expire", DefaultFragmentExpire),
			MaxMessageSize:   p.Int("maxMessageSize", DefaultMaxReassembledSize),
			MaxPendingBytes:  p.Int("maxPendingBytes", 0),
			AcceptNonMembers: p.Bool("acceptNonMembers", false),
			Flag:             channel.SendOptions(p.Int("optionFlag", 0)),
		})
	})
}
