package nio

import (
	"math/bits"
	"sync"
	"sync/atomic"
)

// bufPool keeps the buffers of large frames whose messages the application released
// (channel.Message.Release), so that the next large frames are read into them instead of
// into new memory that the runtime zeroes and later collects. Buffers are kept by size
// class, up to max bytes in all; beyond that, released buffers are left to the garbage
// collector. A buffer is only ever taken back through its frame's release, once.
type bufPool struct {
	max int64

	mu   sync.Mutex
	free map[int][][]byte // by capacity, a class size
	held int64            // bytes in free

	reused atomic.Uint64 // buffers handed out again
}

func newBufPool(max int) *bufPool {
	if max <= 0 {
		return nil
	}
	return &bufPool{max: int64(max), free: map[int][][]byte{}}
}

// bufClass is the capacity of the buffer for an n-byte frame: n rounded up to the next
// eighth of its power of two (at most 1/8 wasted), so that frames of about the same size
// share buffers.
func bufClass(n int) int {
	if n <= 8 {
		return n
	}
	step := 1 << (bits.Len(uint(n-1)) - 4)
	return (n + step - 1) &^ (step - 1)
}

// get returns a buffer of length n, reused if one of its class is free. A nil pool
// allocates.
func (p *bufPool) get(n int) []byte {
	c := bufClass(n)
	if p != nil {
		p.mu.Lock()
		if l := p.free[c]; len(l) > 0 {
			b := l[len(l)-1]
			l[len(l)-1] = nil
			p.free[c] = l[:len(l)-1]
			p.held -= int64(c)
			p.mu.Unlock()
			p.reused.Add(1)
			return b[:n]
		}
		p.mu.Unlock()
	}
	return make([]byte, n, c)
}

// put keeps b for reuse if it is a class's size and the pool has room. The caller must
// not use b afterwards.
func (p *bufPool) put(b []byte) {
	c := cap(b)
	if p == nil || c == 0 || bufClass(c) != c {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.held+int64(c) > p.max {
		return
	}
	p.free[c] = append(p.free[c], b[:0])
	p.held += int64(c)
}

// pooledFrame is the buffer of one received large frame, which its message's Release
// gives back to the pool once.
type pooledFrame struct {
	pool *bufPool
	buf  []byte
	done atomic.Bool
}

func (f *pooledFrame) release() {
	if f.done.CompareAndSwap(false, true) {
		f.pool.put(f.buf)
		f.buf = nil
	}
}
