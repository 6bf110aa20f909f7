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
// without reading, so that its peer is slowed down by TCP and no frame is dropped while the
// receiver runs, but one asking for an ACK whose peer closed meanwhile (gconn.abandoned;
// once Stop's context ends, a waiting connection gives up, its frame not
// acknowledged: TestQueueBudgetWaiterAfterTheWakeUpStops). A frame is let in alone when
// nothing is queued, whatever its size, so that every connection moves on. Connections
// that wait are served in order, and none takes room while one waits, so that a large
// frame is not overtaken for ever. A large frame (32 KiB and more, read into a buffer of
// its own) starts only once its size fits, but is counted only once complete: a
// connection that stalls in the middle of one holds none of this budget (it holds
// MaxPendingBytes meanwhile). Once complete it is taken as a small frame is, waiting for
// room if others took it meanwhile, still counted in MaxPendingBytes, so that the budget
// is never passed but by a frame let in alone
// (TestGoroutineLargeFramesWithinTheQueueBudget).
type queueGate struct {
	queued *atomic.Int64  // counters.queuedBytes
	pauses *atomic.Uint64 // counters.readPauses: a connection waited
	max    int64
	nwait  atomic.Int32 // connections waiting or about to: the fast path leaves them the room
	mu     sync.Mutex
	fifo   []*queueWaiter // served in order, so that a large frame is not overtaken for ever
}

// queueWaiter is a connection waiting for n bytes of room (taking them if take).
type queueWaiter struct {
	n       int64
	take    bool
	granted bool          // under queueGate.mu
	ch      chan struct{} // granted, or woken to check whether it must stop
}

func newQueueGate(st *counters, limit int) *queueGate {
	return &queueGate{queued: &st.queuedBytes, pauses: &st.readPauses, max: int64(limit)}
}

// admit reports whether n bytes fit the budget now, or nothing is queued, and takes them
// if take.
func (g *queueGate) admit(n int64, take bool) bool {
	for {
		cur := g.queued.Load()
		if cur > 0 && cur+n > g.max {
			return false
		}
		if !take || g.queued.CompareAndSwap(cur, cur+n) {
			return true
		}
	}
}

// tryTake takes n bytes if they fit and no connection waits for room.
func (g *queueGate) tryTake(n int64) bool { return g.nwait.Load() == 0 && g.admit(n, true) }

// fits reports whether a large frame of n bytes may start: it fits and no connection
// waits for room.
func (g *queueGate) fits(n int64) bool { return g.nwait.Load() == 0 && g.admit(n, false) }

// add counts n bytes (negative: gives them back) without waiting; bytes given back go to
// the waiting connections in order.
func (g *queueGate) add(n int64) {
	g.queued.Add(n)
	if n < 0 && g.nwait.Load() > 0 {
		g.mu.Lock()
		g.serve()
		g.mu.Unlock()
	}
}

// serve grants room to the waiting connections in order, while the first one fits. Call
// it with mu held. It never blocks: a waiter woken (wake) but not back yet may be waiting
// for mu, its channel full.
func (g *queueGate) serve() {
	for len(g.fifo) > 0 && g.admit(g.fifo[0].n, g.fifo[0].take) {
		w := g.fifo[0]
		w.granted = true
		select { // a wake-up already there makes it look, and see it granted
		case w.ch <- struct{}{}:
		default:
		}
		g.fifo[0] = nil
		g.fifo = g.fifo[1:]
		g.nwait.Add(-1)
	}
}

// wake wakes the waiting connections to check whether they must stop (Stop, the sweeper).
func (g *queueGate) wake() {
	g.mu.Lock()
	for _, w := range g.fifo {
		select {
		case w.ch <- struct{}{}:
		default:
		}
	}
	g.mu.Unlock()
}

// wait waits, behind the connections waiting already, until n bytes fit the budget, and
// takes them if take. It reports false, having taken nothing, once stop reports true
// (checked before it waits and when woken: see wake; stop's condition is set before wake
// runs, so one that comes after the wake-up sees it). A wait counts in Stats.ReadPauses.
func (g *queueGate) wait(n int64, take bool, stop func() bool) bool {
	g.mu.Lock()
	g.nwait.Add(1) // before admit: a release from now on serves the queue
	if len(g.fifo) == 0 && g.admit(n, take) {
		g.nwait.Add(-1)
		g.mu.Unlock()
		return true
	}
	if stop() { // woken before it came (wake sets nothing for the ones to come)
		g.nwait.Add(-1)
		g.mu.Unlock()
		return false
	}
	w := &queueWaiter{n: n, take: take, ch: make(chan struct{}, 1)}
	g.fifo = append(g.fifo, w)
	g.pauses.Add(1)
	g.mu.Unlock()
	for range w.ch {
		g.mu.Lock()
		if w.granted {
			g.mu.Unlock()
			return true
		}
		if stop() {
			for i, x := range g.fifo {
				if x == w {
					g.fifo = append(g.fifo[:i], g.fifo[i+1:]...)
					g.nwait.Add(-1)
					break
				}
			}
			g.serve() // the ones behind it may fit
			g.mu.Unlock()
			return false
		}
		g.mu.Unlock()
	}
	return false // not reached: ch is never closed
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
