package delta

import (
	"sync"
	"sync/atomic"

	"github.com/gotribes/tribes/channel"
)

// recvArrays are what a received batch's messages are decoded into: the messages, the
// pointers to them decodeBatch returns, and the array their actions are cut from. The
// cluster applies a batch's messages as it receives them and is done with them (a
// session copies what it keeps), unless one is kept for later: a transfer's or a
// refresh's queue, a repair's held messages (Message.kept). When none is, it hands the
// arrays back (recycle) for the next batch instead of allocating and collecting about
// 350 bytes per message of every frame (BenchmarkReceiveBatch: 3 224 against 448 B per
// batch of 8 deltas).
type recvArrays struct {
	all  []Message
	msgs []*Message
	acts []Action
	used int // messages taken from all (recycle clears them)
}

// Bounds of what recvArrays keep for reuse: a batch larger than that gets arrays of its
// own, left to the collector.
const (
	maxPooledBatch   = 256
	maxPooledActions = 4 * maxPooledBatch
)

var recvPool = sync.Pool{New: func() any { return new(recvArrays) }}

func getRecvArrays() *recvArrays { return recvPool.Get().(*recvArrays) }

// take returns n zero messages, n pointers for them and an empty action array to cut
// their actions from (batchArena.actions); a nil a allocates the first two.
func (a *recvArrays) take(n int) ([]Message, []*Message, []Action) {
	if a == nil {
		return make([]Message, n), make([]*Message, n), nil
	}
	if cap(a.all) < n {
		a.all, a.msgs = make([]Message, n), make([]*Message, n)
	}
	a.used = n
	return a.all[:n], a.msgs[:n], a.acts[:0]
}

// keep records acts, the array the batch's last actions were cut from, for recycle.
func (a *recvArrays) keep(acts []Action) {
	if a != nil {
		a.acts = acts
	}
}

// recycle hands a's arrays back for the next batch, cleared so that they keep no
// received bytes or strings alive. The messages decoded into them must not be used
// afterwards: a caller recycles only when none was kept (Message.kept).
func (a *recvArrays) recycle() {
	if cap(a.all) > maxPooledBatch || cap(a.acts) > maxPooledActions {
		return
	}
	clear(a.all[:a.used])
	clear(a.msgs[:a.used])
	clear(a.acts)
	a.acts, a.used = a.acts[:0], 0
	recvPool.Put(a)
}

// keepMsg marks msg, received, as kept for later (queued, held), so that the arrays it
// was decoded into are not recycled, and returns its queue entry. A message kept already
// (a refresh's queued one held by a repair when the refresh replays it) is not written
// again: the replay runs on another goroutine than the receive that kept it, which reads
// Message.kept once its messages were dispatched, and may not have yet
// (TestKeepingAKeptMessageAgainIsNoRace).
func keepMsg(msg *Message, src channel.Member) queued {
	if !msg.kept {
		msg.kept = true
	}
	return queued{msg: msg, src: src}
}

// batchNames keeps the strings that received batches repeat (a manager's name, the
// attribute names a page sets) from one batch to the next, so that a batch whose names
// are there allocates none (batchArena.str): a Cluster holds one for all its
// connections, read and replaced whole.
type batchNames struct{ p atomic.Pointer[[4]string] }

// load returns the names kept, or none.
func (n *batchNames) load() (seen [4]string) {
	if n != nil {
		if p := n.p.Load(); p != nil {
			seen = *p
		}
	}
	return seen
}

// store keeps seen if it differs from what was loaded (a batch that met new names).
func (n *batchNames) store(loaded, seen [4]string) {
	if n != nil && seen != loaded {
		p := new([4]string) // only here: &seen would put every call's seen on the heap
		*p = seen
		n.p.Store(p)
	}
}
