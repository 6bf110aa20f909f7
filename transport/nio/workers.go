package nio

import (
	"sync"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/wire"
)

// job is something a worker runs: one connection's queued messages, scheduled as a unit so
// that a connection's messages are processed one at a time and in order.
type job interface{ run() }

// workerPool is a fixed set of goroutines taking jobs from an unbounded FIFO. submit never
// blocks, so event loops can call it; the FIFO stays bounded because each connection is in
// it at most once, and its storage because taken slots are reclaimed also while it never
// empties.
type workerPool struct {
	mu     sync.Mutex
	cond   sync.Cond
	q      []job
	head   int
	closed bool
	wg     sync.WaitGroup
	done   chan struct{} // closed once close was called and every worker exited
}

// compactAfter is how many taken slots the FIFO's front may hold before the waiting jobs
// move to the front (once they are no more than the taken ones: each job is copied O(1)
// times on average).
const compactAfter = 256

func newWorkerPool(n int) *workerPool {
	p := &workerPool{done: make(chan struct{})}
	p.cond.L = &p.mu
	for range n {
		p.wg.Go(p.loop)
	}
	return p
}

func (p *workerPool) submit(j job) {
	p.mu.Lock()
	p.q = append(p.q, j)
	p.mu.Unlock()
	p.cond.Signal()
}

func (p *workerPool) loop() {
	for {
		p.mu.Lock()
		for p.head == len(p.q) && !p.closed {
			p.cond.Wait()
		}
		if p.head == len(p.q) {
			p.mu.Unlock()
			return
		}
		j := p.q[p.head]
		p.q[p.head] = nil
		p.head++
		switch {
		case p.head == len(p.q):
			p.q, p.head = p.q[:0], 0
		case p.head >= compactAfter && 2*p.head >= len(p.q):
			// A FIFO that never empties (more busy connections than workers) would
			// otherwise grow by one slot per job: move the waiting jobs to the front.
			n := copy(p.q, p.q[p.head:])
			clear(p.q[n:])
			p.q, p.head = p.q[:n], 0
		}
		p.mu.Unlock()
		j.run()
	}
}

// close lets the workers finish every queued job, then returns a channel closed when all
// of them have exited. A job submitted once they exited is never run: close the pool only
// once nothing submits any more (receiver.finish). Closing it again returns the same
// channel.
func (p *workerPool) close() <-chan struct{} {
	p.mu.Lock()
	first := !p.closed
	p.closed = true
	p.mu.Unlock()
	if first {
		p.cond.Broadcast()
		go func() {
			p.wg.Wait()
			close(p.done)
		}()
	}
	return p.done
}

// maxKeptItems is the largest queue array (80 bytes an item) a connection keeps for
// reuse once it is empty: enough for its steady traffic (usually one message at a time),
// while the arrays a burst grew are left to the garbage collector instead of being held
// for as long as the connection stays open.
const maxKeptItems = 256

// inItem is one decoded message waiting for a worker.
type inItem struct {
	msg     *channel.Message
	size    int // frame bytes, for the queue bound
	ack     ackMode
	from    wire.MemberKey // the sender the message counts as arriving from until processed
	counted bool
	// untrusted: a non-member's, decoded on a connection that carried no member's frame
	// (receiver.vet). Such a frame's early ACK is written right before its own delivery,
	// in a run of its own: the channel may refuse it or an earlier frame and the
	// connection close, and the frames after the refused one are then dropped
	// unacknowledged.
	untrusted bool
	// acked: its ACK was written before the delivery of the frames before it (an early
	// ACK, in a run). Such a frame is delivered even once the channel refused one of
	// them and its connection closes: no frame is acknowledged and then dropped.
	acked bool
}

// keptItems returns a, emptied, for reuse, or nil if it is larger than maxKeptItems.
func keptItems(a []inItem) []inItem {
	if cap(a) > maxKeptItems {
		return nil
	}
	return a[:0]
}
