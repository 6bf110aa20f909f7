package interceptors

import (
	"container/heap"
	"fmt"
	"sync"
	"time"
)

// replayWindow is Tomcat's nonce cache: one per receiving interceptor (not per sender, so
// that a replay cannot pass by forging the envelope's sender), remembering the newest
// count IVs with their timestamps. Messages not newer than lastRemoved are refused: the
// newest timestamp forgotten, or the time the receiver started without a saved memory.
type replayWindow struct {
	mu          sync.Mutex
	window      int64 // ms
	count       int
	seen        map[[blockIV]byte]struct{}
	byTime      ivHeap
	seq         uint64
	lastRemoved int64 // ms; messages not newer than this are refused
}

type ivEntry struct {
	ts  int64
	seq uint64
	iv  [blockIV]byte
}

type ivHeap []ivEntry

func (h ivHeap) Len() int { return len(h) }
func (h ivHeap) Less(i, j int) bool {
	return h[i].ts < h[j].ts || h[i].ts == h[j].ts && h[i].seq < h[j].seq
}
func (h ivHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *ivHeap) Push(x any)   { *h = append(*h, x.(ivEntry)) }
func (h *ivHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

func (w *replayWindow) init(window time.Duration, count int) {
	w.window, w.count = window.Milliseconds(), count
	w.reset(time.Now().UnixMilli() - w.window)
}

// reset empties the memory; messages not newer than lastRemoved are refused.
func (w *replayWindow) reset(lastRemoved int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.seen = map[[blockIV]byte]struct{}{}
	w.byTime = nil
	w.lastRemoved = lastRemoved
}

func (w *replayWindow) len() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.seen)
}

// check applies Tomcat's rules and remembers the IV if the message passes.
func (w *replayWindow) check(ivBytes []byte, ts int64, now time.Time) error {
	ms := now.UnixMilli()
	var iv [blockIV]byte
	copy(iv[:], ivBytes)
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case ts < ms-w.window:
		return fmt.Errorf("%w: timestamp %d is more than %d ms old", ErrReplay, ts, w.window)
	case ts > ms+w.window:
		return fmt.Errorf("%w: timestamp %d is more than %d ms ahead", ErrReplay, ts, w.window)
	case ts <= w.lastRemoved:
		return fmt.Errorf("%w: timestamp %d is not newer than the oldest forgotten IV (%d)", ErrReplay, ts, w.lastRemoved)
	}
	if _, dup := w.seen[iv]; dup {
		return fmt.Errorf("%w: IV seen before", ErrReplay)
	}
	w.seen[iv] = struct{}{}
	w.seq++
	heap.Push(&w.byTime, ivEntry{ts: ts, seq: w.seq, iv: iv})
	for len(w.byTime) > 0 && (len(w.byTime) > w.count || w.byTime[0].ts < ms-w.window) {
		// Beyond the count, the eldest is forgotten (as Tomcat); IVs older than the window
		// are forgotten early, which changes nothing (their timestamps fail the window) but
		// keeps a quiet receiver's memory small.
		old := heap.Pop(&w.byTime).(ivEntry)
		delete(w.seen, old.iv)
		w.lastRemoved = max(w.lastRemoved, old.ts)
	}
	return nil
}
