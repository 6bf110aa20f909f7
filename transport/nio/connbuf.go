package nio

import (
	"errors"
	"io"
	"math/bits"
	"sync"
)

// Read buffer of a connection served by EngineGoroutine: it starts small (most connections
// carry small frames) and doubles while reads fill it, up to connBufMax. Frames of
// largeFrame bytes or more are read into buffers of their own (decoder.assemble), so every
// smaller frame fits. On Linux (waiter) a grown buffer is given back when the connection
// has to wait for data: released while it waits if it holds nothing (to connBufPools,
// and one of its size taken again when data comes), or cut to the smallest size that
// holds the start of a frame it holds (connBufMin, or a pooled size of at most twice the
// bytes), so that idle connections and ones waiting for a few bytes hold connBufMin each,
// not connBufMax, and ones waiting with more hold at most twice what the budget counts.
const (
	connBufMin = 4 << 10
	connBufMax = 64 << 10
)

var errConnBufFull = errors.New("nio: an oversize frame's header does not fit the connection's 64 KiB read buffer")

// connBufPools[i] holds buffers of connBufMin<<(i+1) bytes (8 to 64 KiB): the grown
// buffers that waiting connections gave back, taken again at the size they had.
var connBufPools [connBufClasses]sync.Pool

const connBufClasses = 4 // 8, 16, 32 and 64 KiB

func init() {
	for i := range connBufPools {
		size := connBufMin << (i + 1)
		connBufPools[i].New = func() any {
			b := make([]byte, size)
			return &b
		}
	}
}

// connBufPool returns the pool of buffers of size bytes, a power of two from 2×connBufMin
// to connBufMax.
func connBufPool(size int) *sync.Pool {
	return &connBufPools[bits.Len(uint(size/connBufMin))-2]
}

// waiter is a source that can give the buffer up while a read waits (rawSock on Linux).
type waiter interface {
	io.Reader
	// canWait reports whether ReadOrRelease works.
	canWait() bool
	// ReadOrRelease reads into p as Read does, except that when nothing is there yet it
	// calls release before it waits, and then reads into the buffer more returns.
	ReadOrRelease(p []byte, release func(), more func() []byte) (int, error)
}

// connBuf is a connection's read buffer: bytes read from the socket and not yet decoded,
// buf[r:w]. It implements inbound for the decoder.
type connBuf struct {
	buf    []byte
	pooled *[]byte // buf, when it came from connBufPools
	r, w   int
	back   int // the size of the buffer given back: the one taken again when data comes
	// most, when positive, caps the next read (fill) at that many bytes: set while the
	// connection reads a large frame, or its last frame was one, and nothing is buffered,
	// so that what the decoder copies out of this buffer into a large frame's own is at
	// most that per read (gconn.serve; the rest is read straight into the frame's buffer).
	most int

	releaseFn func()        // b.giveBack, made once
	moreFn    func() []byte // b.room, made once
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

// resize moves the buffered bytes into a buffer of size bytes (0: none; above connBufMin
// one from connBufPools) and lets the old one go, to its pool if it came from one.
func (b *connBuf) resize(size int) {
	var nb []byte
	var pooled *[]byte
	switch {
	case size > connBufMin:
		pooled = connBufPool(size).Get().(*[]byte)
		nb = *pooled
	case size > 0:
		nb = make([]byte, size)
	}
	b.w = copy(nb, b.buf[b.r:b.w])
	b.r = 0
	if b.pooled != nil {
		connBufPool(len(*b.pooled)).Put(b.pooled)
	}
	b.buf, b.pooled = nb, pooled
}

// release gives the buffer back when the connection closes.
func (b *connBuf) release() { b.resize(0) }

// fill reads once from src into the buffer, making room first: the buffered bytes move to
// the front, and a buffer that the last read filled grows (doubles, up to connBufMax). A
// grown buffer is given back while the read waits (see connBufMin).
func (b *connBuf) fill(src io.Reader) (int, error) {
	if err := b.makeRoom(); err != nil {
		return 0, err
	}
	if ws, ok := src.(waiter); ok && len(b.buf) > connBufMin && ws.canWait() {
		if b.releaseFn == nil {
			b.releaseFn, b.moreFn = b.giveBack, b.room
		}
		return b.read(ws.ReadOrRelease(b.free(), b.releaseFn, b.moreFn))
	}
	return b.read(src.Read(b.free()))
}

// makeRoom gives an empty connection its buffer, and moves the buffered bytes to the front
// of a full buffer, or grows it.
func (b *connBuf) makeRoom() error {
	if b.buf == nil {
		b.resize(b.next())
	}
	if b.w == len(b.buf) {
		if b.r > 0 {
			b.w = copy(b.buf, b.buf[b.r:b.w])
			b.r = 0
		} else if len(b.buf) < connBufMax {
			b.resize(b.next())
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

// next is the size the buffer grows to: twice its size (connBufMin for none), or the size
// it had before it was given back, straight away.
func (b *connBuf) next() int {
	if back := b.back; back > len(b.buf) {
		b.back = 0
		return back
	}
	b.back = 0
	return min(max(2*len(b.buf), connBufMin), connBufMax)
}

// read accounts a read of n bytes into buf[w:]; a read that filled the buffer grows it.
func (b *connBuf) read(n int, err error) (int, error) {
	b.w += max(n, 0)
	if b.w == len(b.buf) && b.r == 0 && len(b.buf) < connBufMax {
		b.resize(b.next())
	}
	return n, err
}

// giveBack is called when a read of a grown buffer has to wait: the buffer goes, or the
// bytes of a frame it holds move to the smallest buffer that holds them with room to read
// (connBufMin, or a pooled one of at most twice their size), unless it is that size
// already. So a waiting connection holds at most twice the bytes counted in
// MaxPendingBytes (and in strangers' share for a stranger), besides connBufMin.
func (b *connBuf) giveBack() {
	held := b.w - b.r
	size := 0
	switch {
	case held >= connBufMin:
		size = 1 << bits.Len(uint(held))
	case held > 0:
		size = connBufMin
	}
	if size >= len(b.buf) {
		return
	}
	b.back = len(b.buf)
	b.resize(size)
}

// room returns the free part of the buffer, made again if it was given back.
func (b *connBuf) room() []byte {
	if b.buf == nil {
		b.resize(b.next())
	}
	return b.free()
}

// free is the part of the buffer the next read may fill: all its free room, or at most
// b.most bytes of it.
func (b *connBuf) free() []byte {
	if b.most > 0 && len(b.buf)-b.w > b.most {
		return b.buf[b.w : b.w+b.most]
	}
	return b.buf[b.w:]
}
