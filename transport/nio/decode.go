package nio

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/wire"
)

// inbound is the part of gnet.Conn the decoder reads from. It is an interface so that the
// decoding step can be fuzzed and tested without sockets.
type inbound interface {
	InboundBuffered() int
	Peek(n int) ([]byte, error)
	Discard(n int) (int, error)
	Read(p []byte) (int, error)
}

const (
	// largeFrame is the frame size from which the decoder assembles a frame in a buffer of
	// its own instead of leaving it in gnet's ring: the bytes are copied once, and the
	// message payload aliases that buffer instead of being copied again.
	largeFrame = 32 << 10
	// minAssembly is the smallest assembly buffer allocated when no budget is set.
	minAssembly = 64 << 10
)

// errOverBudget refuses a large frame whose bytes do not fit the receiver's MaxPendingBytes.
var errOverBudget = errors.New("nio: frame refused: the receiver's budget for partly received frames (MaxPendingBytes) is spent")

// decoder turns the bytes buffered on one connection into ChannelData, one frame at a
// time. With a pending counter, a large frame's buffer is reserved in it, or the frame is
// refused (errOverBudget) if that would pass limit: whole when the frame starts on a
// trusted connection (one that carried a member's frame); on other connections room for
// twice what arrived (at least minAssembly) when it starts, and the whole frame once more
// than that arrived, so that a header that announces a large frame holds no more than
// minAssembly of the budget. Without a pending counter, nothing is allocated for bytes
// that have not arrived.
type decoder struct {
	maxBody int
	large   int // frames of this size or more are assembled; 0 means largeFrame
	cache   wire.MemberCache
	pending *atomic.Int64 // bytes of partial frames the receiver holds; nil means no limit
	limit   int64         // the most pending may reach
	// direct, if set, reads from the connection's socket itself (a non-blocking read).
	// Once a large frame has taken everything in, the rest of it is read with it straight
	// into the frame's buffer: no copy out of gnet's buffer, and as much per call as the
	// socket holds instead of one event loop round per read buffer.
	direct func(p []byte) (int, error)

	asm      []byte // a large frame being assembled
	asmTotal int
	// lastLarge: the last frame decoded was a large one (assembled).
	lastLarge bool
	reserved  int64 // budget held by asm

	arriving *arrivals      // where asm is counted once its header named the sender; nil: not counted
	from     wire.MemberKey // the sender asm is counted under, if counted
	counted  bool
	// done is the sender the frame next just returned is still counted under, until it is
	// delivered (takeArrival).
	done        wire.MemberKey
	doneCounted bool

	// bufs, if set, provides the buffers of large frames assembled whole (with a pending
	// counter) and takes back those of abandoned ones; doneBuf is the buffer of the large
	// frame next just returned, which its message aliases (takeBuffer).
	bufs    *bufPool
	doneBuf []byte

	// strangers, if set, counts the part of pending reserved for frames of strangers:
	// frames on a connection not trusted whose header, when their buffer was reserved,
	// named no member (isMember); at most strangerLimit together (strangers.go).
	strangers     *atomic.Int64
	strangerLimit int64
	isMember      func(*channel.Member) bool // the receiver's sender check; nil: any sender is a member
	probe         *channel.Member            // memberKeyOf's member, reused (made at its first use)
	stranger      bool                       // the frame being assembled is charged to strangers
	headRead      bool                       // its header was complete when vouched read it
	strangerRes   int64                      // the part of reserved charged to strangers
	// front is what the complete header of the frame at the front of the connection's
	// buffer says of its sender, once frontKnown (frontHead): read once, not on every read
	// of its rest. arrivalRead: the header of the frame being assembled was read for
	// arriving (complete or malformed), not to be read again.
	front       headState
	frontKnown  bool
	arrivalRead bool
	// holdDone: a large frame's reservation (in pending and strangers' share) is kept
	// once next returned it, in doneRes and doneStrange, until releaseDone: EngineGoroutine
	// counts it there until MaxQueuedBytes takes it.
	holdDone    bool
	doneRes     int64
	doneStrange int64

	// trusted: the connection carried a member's frame (any complete frame when the
	// receiver does not check senders; receiver.vet). Read by the sweeper.
	trusted atomic.Bool
	// lastFrame is when the last frame was decoded, or its delivery ended, while the
	// connection was not trusted (unix ns, 0 none): the sweeper closes it once it stays
	// idle for FirstFrameTimeout.
	lastFrame atomic.Int64
	// inflight counts the non-members' messages decoded while the connection was not
	// trusted and not yet delivered or dropped (receiver.vet, receiver.settled).
	inflight atomic.Int64
}

// next decodes the first frame buffered in in and consumes it. ok is false (with a nil
// error) while the frame is incomplete; its bytes then stay buffered (small frames) or move
// into the decoder (large ones). An error means the stream is corrupt: a wrong marker, a
// negative or oversize length, or a ChannelData whose inner lengths do not add up; the
// connection must be closed.
func (d *decoder) next(in inbound) (cd wire.ChannelData, frameLen int, ok bool, err error) {
	if d.asm != nil {
		return d.assemble(in)
	}
	buffered := in.InboundBuffered()
	if buffered == 0 {
		return cd, 0, false, nil
	}
	hdr, err := in.Peek(min(buffered, wire.FrameHeaderLen))
	if err != nil {
		return cd, 0, false, nil
	}
	total, err := wire.PeekFrameLen(hdr, d.maxBody)
	if errors.Is(err, wire.ErrFrameTooLarge) {
		return cd, 0, false, d.oversize(in, buffered, err)
	}
	if err != nil || total == 0 {
		return cd, 0, false, err
	}
	large := d.large
	if large == 0 {
		large = largeFrame
	}
	if total >= large {
		stranger, wait := d.classify(in, buffered)
		if wait {
			return cd, 0, false, nil
		}
		d.stranger = stranger
		if err := d.startAssembly(total, buffered); err != nil {
			return cd, 0, false, err
		}
		return d.assemble(in)
	}
	if buffered < total {
		return cd, 0, false, nil
	}
	frame, err := in.Peek(total)
	if err != nil {
		return cd, 0, false, nil
	}
	body, n, err := wire.ParseFrame(frame, d.maxBody)
	if err != nil {
		return cd, 0, false, err
	}
	if cd, err = wire.ParseChannelData(body, &d.cache); err != nil {
		return cd, 0, false, err
	}
	_, _ = in.Discard(n)
	d.doneBuf, d.frontKnown, d.lastLarge = nil, false, false
	return cd, n, true, nil
}

// lostFrame is the error of a frame the receiver drops once its header named the sender:
// the connection is closed and the loss reported to the channel (channel.LossReporter).
type lostFrame struct {
	source wire.ChannelData // the frame's header: options, timestamp, id, sender
	size   int              // the body length the frame announced
	err    error            // wraps channel.ErrMessageTooLarge or channel.ErrConnectionLost
}

func (e *lostFrame) Error() string { return e.err.Error() }
func (e *lostFrame) Unwrap() error { return e.err }

// oversize handles a frame announcing more than maxBody (tooLarge is PeekFrameLen's
// error): once the header of its body has arrived, it returns a *lostFrame naming the
// sender; until then nil (wait; FrameTimeout bounds the wait). A header that cannot be
// read returns tooLarge itself.
func (d *decoder) oversize(in inbound, buffered int, tooLarge error) error {
	b, err := in.Peek(min(buffered, wire.FrameHeaderLen+headMax))
	if err != nil || len(b) < wire.FrameHeaderLen {
		return nil
	}
	size := int(binary.BigEndian.Uint32(b[wire.FrameHeaderLen-4:]))
	head, complete, err := parseHead(b[wire.FrameHeaderLen:], &d.cache)
	switch {
	case err != nil:
		return tooLarge
	case !complete:
		return nil
	}
	return &lostFrame{source: head, size: size,
		err: fmt.Errorf("%w: a %d-byte frame exceeds MaxFrameSize %d", channel.ErrMessageTooLarge, size, d.maxBody)}
}

// cutOff returns, for a connection that closed, the frame it left incomplete as a
// *lostFrame wrapping channel.ErrConnectionLost, or nil when nothing was left or the
// frame's header had not arrived.
func (d *decoder) cutOff(in inbound) error {
	b := d.asm
	if b == nil {
		var err error
		if b, err = in.Peek(min(in.InboundBuffered(), wire.FrameHeaderLen+headMax)); err != nil {
			return nil
		}
	}
	total, err := wire.PeekFrameLen(b, d.maxBody)
	if err != nil || total == 0 {
		return nil
	}
	head, complete, err := parseHead(b[wire.FrameHeaderLen:], &d.cache)
	if err != nil || !complete {
		return nil
	}
	got := len(b)
	if d.asm == nil {
		got = in.InboundBuffered()
	}
	return &lostFrame{source: head, size: total - wire.FrameOverhead,
		err: fmt.Errorf("%w: the connection closed after %d of the frame's %d bytes", channel.ErrConnectionLost, got, total)}
}

// headMax is the most bytes the ChannelData header before the message can take: options,
// timestamp, the id, the sender member and the message's length.
const headMax = 12 + 4 + wire.MaxMessageIDLen + 4 + wire.MaxMemberSize + 4

// parseHead decodes the ChannelData header at the start of a frame body of which only
// prefix has arrived (options, timestamp, id, sender; no message). complete is false while
// prefix is too short to hold it; an error means it is malformed.
func parseHead(prefix []byte, cache *wire.MemberCache) (cd wire.ChannelData, complete bool, err error) {
	off, complete, err := headLen(prefix)
	if !complete || err != nil {
		return cd, false, err
	}
	head := make([]byte, off+4) // the message's length left 0
	copy(head, prefix[:off])
	if cd, err = wire.ParseChannelData(head, cache); err != nil {
		return cd, false, err
	}
	return cd, true, nil
}

// headLen returns the length of the ChannelData header at the start of prefix before the
// message's length, once prefix holds that header and the message's length (complete),
// reading only the id's and the sender's lengths: it copies nothing.
func headLen(prefix []byte) (off int, complete bool, err error) {
	off = 12 // options, timestamp
	for _, limit := range [2]int{wire.MaxMessageIDLen, wire.MaxMemberSize} {
		if off+4 > len(prefix) {
			return 0, false, nil
		}
		n := int32(binary.BigEndian.Uint32(prefix[off:]))
		if n < 0 || int(n) > limit {
			return 0, false, fmt.Errorf("%w: a field of %d bytes in a frame's header", wire.ErrBadChannelData, n)
		}
		off += 4 + int(n)
	}
	if off+4 > len(prefix) {
		return 0, false, nil
	}
	return off, true, nil
}

// startAssembly allocates the buffer of a large frame, reserved in pending (refused if it
// does not fit): all of it on a trusted connection; otherwise, as with no pending counter,
// room for twice what arrived (at least minAssembly), which grows (to the whole frame,
// with a pending counter) once more arrives.
func (d *decoder) startAssembly(total, buffered int) error {
	size := total
	if d.pending == nil || !d.trusted.Load() {
		size = min(total, max(2*buffered, minAssembly))
	}
	if d.pending != nil {
		if err := d.reserve(size); err != nil {
			return err
		}
	}
	d.asmTotal, d.frontKnown = total, false
	if d.pending != nil {
		d.asm = d.bufs.get(size)[:0]
	} else {
		d.asm = make([]byte, 0, size)
	}
	return nil
}

// assembleCopyHook, nil but in tests, is called with the number of bytes assemble copies
// out of the inbound buffer into a large frame's buffer, each time it does
// (TestGoroutineLargeFramesCopyLittle).
var assembleCopyHook func(n int)

// growCopyHook, nil but in tests, is called with the number of bytes grow copies from a
// large frame's smaller buffer into its larger one, each time it does
// (BenchmarkGnetLargeFrameReceive).
var growCopyHook func(n int)

func (d *decoder) assemble(in inbound) (cd wire.ChannelData, frameLen int, ok bool, err error) {
	if take := min(d.asmTotal-len(d.asm), in.InboundBuffered()); take > 0 {
		n := len(d.asm)
		if cap(d.asm)-n < take {
			if err := d.grow(n + take); err != nil {
				return cd, 0, false, err
			}
		}
		d.asm = d.asm[:n+take]
		if assembleCopyHook != nil {
			assembleCopyHook(take)
		}
		if _, err := in.Read(d.asm[n:]); err != nil {
			return cd, 0, false, fmt.Errorf("nio: reading the inbound buffer: %w", err)
		}
	}
	if len(d.asm) < d.asmTotal && d.direct != nil && in.InboundBuffered() == 0 {
		if err := d.readDirect(); err != nil {
			return cd, 0, false, err
		}
	}
	if d.stranger {
		d.vouched()
	}
	if d.arriving != nil && !d.arrivalRead && len(d.asm) > wire.FrameHeaderLen {
		head, complete, err := parseHead(d.asm[wire.FrameHeaderLen:], &d.cache)
		d.arrivalRead = complete || err != nil // read once, as the header is copied
		if err == nil && complete {
			d.from, d.counted = head.Address.Key(), true
			d.arriving.add(d.from, 1)
		}
	}
	if len(d.asm) < d.asmTotal {
		return cd, 0, false, nil
	}
	frame, from, counted := d.asm, d.from, d.counted
	d.counted = false // still counted until delivered: see takeArrival
	d.asm = nil       // the frame's message keeps its buffer: abandon must not take it back
	if d.holdDone {
		d.doneRes, d.doneStrange = d.reserved, d.strangerRes
		d.reserved, d.strangerRes = 0, 0
	}
	d.abandon()
	body, n, err := wire.ParseFrame(frame, d.maxBody)
	if err == nil {
		cd, err = parseOwned(body, &d.cache)
	}
	if err != nil {
		d.releaseDone()
		if counted {
			d.arriving.add(from, -1)
		}
		d.bufs.put(frame)
		return cd, 0, false, err
	}
	d.done, d.doneCounted, d.doneBuf, d.lastLarge = from, counted, frame, true
	return cd, n, true, nil
}

// releaseDone gives back the reservation of the large frame next returned last, kept with
// holdDone; it does nothing without one.
func (d *decoder) releaseDone() {
	if d.doneRes != 0 {
		d.pending.Add(-d.doneRes)
	}
	if d.doneStrange != 0 {
		d.strangers.Add(-d.doneStrange)
	}
	d.doneRes, d.doneStrange = 0, 0
}

// takeBuffer returns the buffer of the large frame next just returned, which its message
// aliases, or nil for a small frame.
func (d *decoder) takeBuffer() []byte {
	b := d.doneBuf
	d.doneBuf = nil
	return b
}

// takeArrival returns the sender under which the frame next just returned still counts as
// arriving, if it does; the caller calls arrivals.add(from, -1) once it delivered it (or
// dropped it), so that a frame counts as arriving until the application has it.
func (d *decoder) takeArrival() (from wire.MemberKey, counted bool) {
	from, counted = d.done, d.doneCounted
	d.doneCounted = false
	return from, counted
}

// readDirect reads more of the frame being assembled from the socket, into the room its
// buffer has (growing a buffer that is not the frame's whole size once it is full), until
// the frame is complete or a read returns less than asked (the socket is drained; the
// event loop calls again when more arrives). A read that fails or finds the end of the
// stream stops it too: gnet's own next read sees the same and closes the connection. Its
// error is the budget's, when growing does not fit (errOverBudget).
func (d *decoder) readDirect() error {
	for {
		if len(d.asm) == cap(d.asm) && len(d.asm) < d.asmTotal {
			if err := d.grow(len(d.asm) + 1); err != nil {
				return err
			}
		}
		free := d.asm[len(d.asm):min(cap(d.asm), d.asmTotal)]
		if len(free) == 0 {
			return nil
		}
		n, err := d.direct(free)
		if err != nil || n <= 0 {
			return nil
		}
		d.asm = d.asm[:len(d.asm)+n]
		if n < len(free) {
			return nil
		}
	}
}

// reserve adds n bytes to the frame's reservation in pending, or refuses them
// (errOverBudget) if that would pass limit.
func (d *decoder) reserve(n int) error {
	if d.pending.Add(int64(n)) > d.limit {
		d.pending.Add(-int64(n))
		return errOverBudget
	}
	if d.stranger {
		if d.strangers.Add(int64(n)) > d.strangerLimit {
			d.strangers.Add(-int64(n))
			d.pending.Add(-int64(n))
			return errStrangersOverBudget
		}
		d.strangerRes += int64(n)
	}
	d.reserved += int64(n)
	return nil
}

// grow moves the frame being assembled into a larger buffer that holds at least need
// bytes. With a pending counter that buffer is the whole frame, its size reserved first
// (the first buffer of a frame on a connection that is not trusted is the only smaller
// one: growing in steps would leave each step's buffer, written, to the garbage
// collector, and a peer whose frames are refused at a later step would make the receiver
// hold far more memory than its budget); without one, it doubles.
func (d *decoder) grow(need int) error {
	var grown []byte
	size := min(d.asmTotal, max(2*cap(d.asm), need))
	if d.pending != nil {
		d.vouched()
		size = d.asmTotal
		if extra := size - int(d.reserved); extra > 0 {
			if err := d.reserve(extra); err != nil {
				return err
			}
		}
		grown = d.bufs.get(size)[:len(d.asm)]
	} else {
		grown = make([]byte, len(d.asm), size)
	}
	if growCopyHook != nil {
		growCopyHook(len(d.asm))
	}
	copy(grown, d.asm)
	if d.pending != nil {
		d.bufs.put(d.asm)
	}
	d.asm = grown
	return nil
}

// abandon drops a frame being assembled and returns its budget (call it when the
// connection closes).
func (d *decoder) abandon() {
	if d.reserved > 0 {
		d.pending.Add(-d.reserved)
	}
	d.unchargeStranger()
	if d.counted {
		d.arriving.add(d.from, -1)
		d.counted = false
	}
	if d.asm != nil {
		d.bufs.put(d.asm)
	}
	d.asm, d.asmTotal, d.reserved, d.arrivalRead = nil, 0, 0, false
}

// parseOwned decodes a ChannelData body that the decoder owns, with the message aliasing
// body instead of being copied. wire.ParseChannelData validates everything (it is handed
// the body up to the message, with the message length zeroed in place); the message
// length is then checked against what remains, as wire.ParseChannelData would.
func parseOwned(body []byte, cache *wire.MemberCache) (wire.ChannelData, error) {
	off := 12     // options, timestamp
	for range 2 { // id, address
		if off+4 > len(body) {
			return wire.ParseChannelData(body, cache) // reports the truncation
		}
		n := int64(int32(binary.BigEndian.Uint32(body[off:])))
		if n < 0 || n > int64(len(body)-off-4) {
			return wire.ParseChannelData(body, cache) // reports the bad length
		}
		off += 4 + int(n)
	}
	if off+4 > len(body) {
		return wire.ParseChannelData(body, cache)
	}
	var saved [4]byte
	copy(saved[:], body[off:off+4])
	msgLen := int64(int32(binary.BigEndian.Uint32(saved[:])))
	clear(body[off : off+4])
	cd, err := wire.ParseChannelData(body[:off+4], cache)
	copy(body[off:], saved[:])
	if err != nil {
		return cd, err
	}
	rest := int64(len(body) - off - 4)
	if msgLen != rest {
		return wire.ChannelData{}, fmt.Errorf("%w: message length %d, but %d bytes remain", wire.ErrBadChannelData, msgLen, rest)
	}
	cd.Message = body[off+4:]
	return cd, nil
}

// ackMode says when the receiver answers a message (spec 5.2).
type ackMode uint8

const (
	ackNone   ackMode = iota // no USE_ACK: nothing
	ackBefore                // USE_ACK without SYNC: ACK, then process
	ackAfter                 // USE_ACK with SYNC: process, then ACK or FAIL_ACK
)

func ackModeOf(o channel.SendOptions) ackMode {
	switch {
	case o.IsSyncAck():
		return ackAfter
	case o.WaitsForAck():
		return ackBefore
	}
	return ackNone
}

// arrivals counts, per sender, the large frames being assembled whose header named it
// (Transport.Arriving).
type arrivals struct {
	mu sync.Mutex
	n  map[wire.MemberKey]int
}

func (a *arrivals) add(k wire.MemberKey, d int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.n == nil {
		a.n = map[wire.MemberKey]int{}
	}
	if a.n[k] += d; a.n[k] <= 0 {
		delete(a.n, k)
	}
}

func (a *arrivals) reset() {
	a.mu.Lock()
	defer a.mu.Unlock()
	clear(a.n)
}

func (a *arrivals) has(k wire.MemberKey) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.n[k] > 0
}
