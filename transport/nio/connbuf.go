package nio

import (
	"errors"
	"io"
	"sync"
)

// Read buffer of a connection served by EngineGoroutine: it starts small (most connections
// carry small frames) and doubles while reads fill it, up to connBufMax. Frames of
// largeFrame bytes or more are read into buffers of their own (decoder.assemble), so every
// smaller frame fits. A connection with nothing to read gives a grown buffer back (to
// connBufPool if it has the largest size) before it waits, keeping at most one of
// connBufMin or just large enough for the partial frame it holds, so that idle and
// waiting connections hold no more than that each (on Linux, where the wait needs no
// buffer: waiter).
const (
	connBufMin = 4 << 10
	connBufMax = 64 << 10
)

var errConnBufFull = errors.New("nio: an oversize frame's header does not fit the connection's 64 KiB read buffer")

// connBufPool holds buffers of connBufMax bytes that idle connections gave back.
var connBufPool = sync.Pool{New: func() any { return new([connBufMax]byte) }}

// errWouldBlock is a waiter's TryRead finding nothing to read.
var errWouldBlock = errors.New("nio: nothing to read now")

// waiter is a source that can read without waiting and wait without a buffer (rawSock on
// Linux).
type waiter interface {
	io.Reader
	// canWait reports whether TryRead and WaitReadable work.
	canWait() bool
	// TryRead reads what is there now, or returns errWouldBlock.
	TryRead(p []byte) (int, error)
	// WaitReadable waits until a read would not block (data, end of stream or an error).
	WaitReadable() error
}

// connBuf is a connection's read buffer: bytes read from the socket and not yet decoded,
// buf[r:w]. It implements inbound for the decoder.
type connBuf struct {
	buf    []byte
	max    *[connBufMax]byte // buf's array when it came from connBufPool
	r, w   int
	wasMax bool // buf was given back at connBufMax: take a pooled one when data comes
}

func (b *connBuf) InboundBuffered() int { return b.w - b.r }

func (b *connBuf) Peek(n int) ([]byte, error) {
	if n > b.w-b.r {
		return nil, io.ErrShortBuffer
	}
	return b.buf[b.r : b.r+n], nil
}

func (b *connBuf) Discard(n int) (int, error) {
	n = min(n, b.w-b.r)
	b.r += n
	if b.r == b.w {
		b.r, b.w = 0, 0
	}
	return n, nil
}

func (b *connBuf) Read(p []byte) (int, error) {
	n := copy(p, b.buf[b.r:b.w])
	_, _ = b.Discard(n)
	return n, nil
}

// resize moves the buffered bytes into a buffer of size bytes (0: none) and lets the old
// one go, to connBufPool if it came from there.
func (b *connBuf) resize(size int) {
	var nb []byte
	var arr *[connBufMax]byte
	switch {
	case size == connBufMax:
		arr = connBufPool.Get().(*[connBufMax]byte)
		nb = arr[:]
	case size > 0:
		nb = make([]byte, size)
	}
	b.w = copy(nb, b.buf[b.r:b.w])
	b.r = 0
	if b.max != nil {
		connBufPool.Put(b.max)
	}
	b.buf, b.max = nb, arr
}

// release gives the buffer back when the connection closes.
func (b *connBuf) release() { b.resize(0) }

// fill reads once from src into the buffer, making room first: the buffered bytes move to
// the front, and a buffer that the last read filled doubles (up to connBufMax). A grown
// buffer that would wait for data is first given back (see connBufMin).
func (b *connBuf) fill(src io.Reader) (int, error) {
	if b.buf == nil {
		b.take()
	}
	if err := b.makeRoom(); err != nil {
		return 0, err
	}
	if ws, ok := src.(waiter); ok && len(b.buf) > connBufMin && ws.canWait() {
		n, err := ws.TryRead(b.buf[b.w:])
		if !errors.Is(err, errWouldBlock) {
			return b.read(n, err)
		}
		if b.shrink() {
			if err := ws.WaitReadable(); err != nil {
				return 0, err
			}
			b.take()
		}
	}
	return b.read(src.Read(b.buf[b.w:]))
}

// take gives an empty connection its buffer: connBufMin, or connBufMax again if it had
// that when it went idle.
func (b *connBuf) take() {
	size := connBufMin
	if b.wasMax {
		size, b.wasMax = connBufMax, false
	}
	b.resize(size)
}

// makeRoom moves the buffered bytes to the front of a full buffer, or grows it.
func (b *connBuf) makeRoom() error {
	if b.w == len(b.buf) {
		if b.r > 0 {
			b.w = copy(b.buf, b.buf[b.r:b.w])
			b.r = 0
		} else if len(b.buf) < connBufMax {
			b.resize(min(2*len(b.buf), connBufMax))
		}
	}
	if b.w == len(b.buf) {
		// A full buffer holds a complete frame or a large frame's start, which the decoder
		// takes, unless it is the start of a frame above MaxFrameSize whose header (its
		// sender member) is longer than the buffer: that closes the connection as an
		// invalid frame.
		return errConnBufFull
	}
	return nil
}

// read accounts a read of n bytes into buf[w:]; a read that filled the buffer doubles it.
func (b *connBuf) read(n int, err error) (int, error) {
	b.w += max(n, 0)
	if b.w == len(b.buf) && b.r == 0 && len(b.buf) < connBufMax {
		b.resize(min(2*len(b.buf), connBufMax))
	}
	return n, err
}

// shrink, when nothing is there to read, keeps the buffered bytes (a partial frame) in the
// smallest buffer of connBufMin times a power of two with room left, and reports true, the
// buffer given back, if there are none.
func (b *connBuf) shrink() bool {
	held := b.w - b.r
	if held == 0 {
		b.wasMax = len(b.buf) == connBufMax
		b.resize(0)
		return true
	}
	size := connBufMin
	for size <= held {
		size *= 2
	}
	if size < len(b.buf) {
		b.resize(size)
	}
	return false
}
