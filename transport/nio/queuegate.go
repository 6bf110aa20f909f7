package nio

import (
	"sync"
	"sync/atomic"

	"github.com/gotribes/tribes/wire"
)

// queueGate is EngineGoroutine's budget for decoded frames waiting for one of the Workers
// slots, all connections together (Config.MaxQueuedBytes; the bytes are Stats.QueuedBytes).
// A connection takes a small frame's bytes from it before decoding the frame; when they do
// not fit it delivers what it decoded already, or, with nothing decoded, waits for room
// without reading, so that its peer is slowed down by TCP and no frame is dropped. A frame
// is let in alone when nothing is queued, whatever its size, so that every connection moves
// on. A large frame (32 KiB and more, read into a buffer of its own) starts only once its
// size fits, but is counted only once complete: a connection that stalls in the middle of
// one holds none of this budget (it holds MaxPendingBytes meanwhile), so the frames that
// complete together may pass the budget by the large frames being received at once, at
// most MaxPendingBytes.
type queueGate struct {
	queued  *atomic.Int64  // counters.queuedBytes
	pauses  *atomic.Uint64 // counters.readPauses: a connection waited
	max     int64
	waiters atomic.Int32
	mu      sync.Mutex
	cond    sync.Cond
}

func newQueueGate(st *counters, limit int) *queueGate {
	g := &queueGate{queued: &st.queuedBytes, pauses: &st.readPauses, max: int64(limit)}
	g.cond.L = &g.mu
	return g
}

// tryTake takes n bytes if they fit the budget, or if nothing is queued.
func (g *queueGate) tryTake(n int64) bool {
	for {
		cur := g.queued.Load()
		if cur > 0 && cur+n > g.max {
			return false
		}
		if g.queued.CompareAndSwap(cur, cur+n) {
			return true
		}
	}
}

// add counts n bytes (negative: gives them back) without waiting, and wakes the waiting
// connections when bytes are given back.
func (g *queueGate) add(n int64) {
	g.queued.Add(n)
	if n < 0 && g.waiters.Load() > 0 {
		g.wake()
	}
}

// wake wakes the waiting connections, to take their bytes or to see that they must stop.
func (g *queueGate) wake() {
	g.mu.Lock()
	g.cond.Broadcast()
	g.mu.Unlock()
}

// fits reports whether n bytes fit the budget now, or nothing is queued.
func (g *queueGate) fits(n int64) bool {
	cur := g.queued.Load()
	return cur == 0 || cur+n <= g.max
}

// wait waits until n bytes fit the budget, and takes them if take. It reports false,
// having taken nothing, once stop reports true (checked at every wake-up: see wake). A
// wait counts in Stats.ReadPauses.
func (g *queueGate) wait(n int64, take bool, stop func() bool) bool {
	try := func() bool {
		if take {
			return g.tryTake(n)
		}
		return g.fits(n)
	}
	if try() {
		return true
	}
	g.pauses.Add(1)
	g.mu.Lock()
	defer g.mu.Unlock()
	g.waiters.Add(1)
	defer g.waiters.Add(-1)
	for !try() {
		if stop() {
			return false
		}
		g.cond.Wait()
	}
	return true
}

// nextFrame returns the length of the frame whose header is at the front of the
// connection's read buffer, and whether it is small (under largeFrame bytes) and
// complete; 0 when there is none (no header yet, a large frame being assembled, an invalid
// header: the decoder deals with those).
func (gc *gconn) nextFrame() (total int, small bool) {
	if gc.dec.asm != nil {
		return 0, false
	}
	buffered := gc.in.InboundBuffered()
	if buffered < wire.FrameHeaderLen {
		return 0, false
	}
	hdr, err := gc.in.Peek(wire.FrameHeaderLen)
	if err != nil {
		return 0, false
	}
	total, err = wire.PeekFrameLen(hdr, gc.dec.maxBody)
	if err != nil || total == 0 {
		return 0, false
	}
	large := gc.dec.large
	if large == 0 {
		large = largeFrame
	}
	if total >= large {
		return total, false
	}
	if total > buffered {
		return 0, false
	}
	return total, true
}
