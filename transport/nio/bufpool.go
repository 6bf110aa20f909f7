package nio

import (
	"sync"
	"sync/atomic"

	"github.com/gotribes/tribes/internal/thp"
)

// bufPool keeps the buffers of large frames whose messages the application released
// (channel.Message.Release), so that the next large frames are read into them instead of
// into new memory that the runtime zeroes and later collects. It keeps up to max bytes of
// buffers; beyond that, released buffers are left to the garbage collector. A frame takes
// the smallest free buffer that holds it and wastes at most an eighth of it. A buffer is
// only ever given back through its frame's release, once.
type bufPool struct {
	max int64

	mu   sync.Mutex
	free [][]byte // at most max bytes of capacity in all; few entries (max / largeFrame at most)
	held int64    // capacity in free

	reused atomic.Uint64 // buffers handed out again
}

func newBufPool(max int) *bufPool {
	if max <= 0 {
		return nil
	}
	return &bufPool{max: int64(max)}
}

// pageSize is the granularity of the Go runtime's large allocations: a new buffer gets
// the capacity its allocation has anyway.
const pageSize = 8 << 10

// get returns a buffer of length n: the best-fitting free one, or a new one. A nil pool
// allocates.
func (p *bufPool) get(n int) []byte {
	if p != nil {
		p.mu.Lock()
		best := -1
		for i, b := range p.free {
			if c := cap(b); c >= n && c <= n+n/8 && (best < 0 || c < cap(p.free[best])) {
				best = i
			}
		}
		if best >= 0 {
			b := p.free[best]
			last := len(p.free) - 1
			p.free[best], p.free[last] = p.free[last], nil
			p.free = p.free[:last]
			p.held -= int64(cap(b))
			p.mu.Unlock()
			p.reused.Add(1)
			return b[:n]
		}
		p.mu.Unlock()
	}
	b := make([]byte, n, (n+pageSize-1)&^(pageSize-1))
	if n >= hugeFrame {
		thp.AdviseBytes(b) // before the frame is read into it
	}
	return b
}

// hugeFrame is the size from which a new frame buffer's heap is advised for transparent
// huge pages while a state transfer is received (internal/thp, whose Hold the joiner
// takes): its chunks are about 1 MiB each, arrive at the network's rate and are kept as
// the joiner's sessions, and faulting that memory in 4 KiB pages cost more than the copy.
const hugeFrame = 1 << 20

// put keeps b for reuse if the pool has room. The caller must not use b afterwards.
func (p *bufPool) put(b []byte) {
	if p == nil || cap(b) == 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.held+int64(cap(b)) > p.max {
		return
	}
	p.free = append(p.free, b[:0])
	p.held += int64(cap(b))
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
