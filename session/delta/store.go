package delta

import (
	"cmp"
	"hash/maphash"
	"slices"
	"sync"
	"sync/atomic"
	"unsafe"
)

// nShards splits the session table so that lookups on different sessions rarely contend
// and so that iteration (expiry sweep, state transfer) holds one small shard's lock at a
// time instead of copying the whole table.
const nShards = 64

var shardSeed = maphash.MakeSeed()

type shard struct {
	mu sync.RWMutex
	m  map[string]*Session
}

// store is the session table. Lock order: a shard's mu before a Session's mu; two shard
// locks are taken in index order; shard locks before walksMu before a walk's mu.
type store struct {
	shards [nShards]shard
	n      atomic.Int64
	// reserved is the largest number of sessions reserve sized the shards for.
	reserved atomic.Int64
	// renames counts the renames done (rename), for the lookups that try several ids
	// one after the other (Manager.lookup).
	renames atomic.Uint64
	// closed is set by clear (the manager stopped): add and getOrAdd insert nothing
	// after it, so that no session is left in a stopped manager by a creation or a
	// message that raced with its Stop.
	closed atomic.Bool

	// walks are the forEach calls running (nWalks of them), which rename tells about
	// the sessions it moves from one shard to another.
	walksMu sync.Mutex
	walks   []*walk
	nWalks  atomic.Int32
}

// walk is one forEach call in progress. A session renamed during the walk may move from
// a shard not copied yet to one already copied (the walk would miss it: a state transfer
// would leave it out) or the other way (the walk would see it twice, a state transfer
// would send it under both ids); the walk tracks such sessions to see each exactly once.
type walk struct {
	next atomic.Int32 // shards below next have been copied (stored under that shard's read lock)
	mu   sync.Mutex
	// moved holds the sessions moved between shards during the walk, with whether the
	// walk has copied them yet (nil until one moves).
	moved map[*Session]bool
}

func newStore() *store {
	s := &store{}
	for i := range s.shards {
		s.shards[i].m = make(map[string]*Session)
	}
	return s
}

func shardIndex(id string) int { return int(maphash.String(shardSeed, id) % nShards) }

func (st *store) get(id string) *Session {
	sh := &st.shards[shardIndex(id)]
	sh.mu.RLock()
	s := sh.m[id]
	sh.mu.RUnlock()
	return s
}

// maxReserve bounds what reserve sizes the table for: a hint larger than that (from a
// faulty donor, or a table of more sessions than that) leaves the rest to the maps'
// own growth.
const maxReserve = 1 << 22

// reserveStep: once the shards were sized, reserve sizes them again only for at least
// reserveStep times as many sessions, so that a transfer reserving ahead of what it
// received (reserveAhead) moves the entries it holds a few times, not at every chunk.
const reserveStep = 4

// reserveAhead: a joiner sizes its table for the total its donor announces only up to
// reserveAhead times the sessions it holds (those received included), so that what the
// table costs follows what arrived (a faulty or hostile donor's total alone sized it for
// maxReserve sessions: over 200 MB).
const reserveAhead = 16

// reserve sizes the shards for n sessions in all, ahead of a state transfer's inserts: a
// map growing to its size one insert at a time moves each of its entries several times
// (about a tenth of a joiner's CPU time at a million sessions). Shards already that
// large, or sized by an earlier call for as many, are left alone, and so are shards
// sized for more than n/reserveStep unless n is the last size asked for (final).
func (st *store) reserve(n int, final bool) {
	n = min(n, maxReserve)
	for {
		cur := st.reserved.Load()
		if int64(n) <= cur || (!final && cur > 0 && int64(n) < reserveStep*cur) {
			return
		}
		if st.reserved.CompareAndSwap(cur, int64(n)) {
			break
		}
	}
	per := n/nShards + n/nShards/8 + 8 // what a shard gets of n, with room for the spread
	for i := range st.shards {
		sh := &st.shards[i]
		sh.mu.Lock()
		if len(sh.m) < per/2 {
			m := make(map[string]*Session, per)
			for id, s := range sh.m {
				m[id] = s
			}
			sh.m = m
		}
		sh.mu.Unlock()
	}
}

// add inserts s under id unless the id is taken or the store is closed; it reports
// whether it inserted.
func (st *store) add(id string, s *Session) bool {
	sh := &st.shards[shardIndex(id)]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if _, ok := sh.m[id]; ok || st.closed.Load() {
		return false
	}
	sh.m[id] = s
	st.n.Add(1)
	return true
}

// getOrAdd returns the session under id, inserting the one made by mk if there is none;
// nil if there is none and the store is closed.
func (st *store) getOrAdd(id string, mk func() *Session) (s *Session, added bool) {
	sh := &st.shards[shardIndex(id)]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if s := sh.m[id]; s != nil {
		return s, false
	}
	if st.closed.Load() {
		return nil, false
	}
	s = mk()
	sh.m[id] = s
	st.n.Add(1)
	return s, true
}

// remove deletes id if it maps to s.
func (st *store) remove(id string, s *Session) bool {
	sh := &st.shards[shardIndex(id)]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.m[id] != s {
		return false
	}
	delete(sh.m, id)
	st.n.Add(-1)
	return true
}

// rename moves s from oldID to newID atomically and sets its id, holding both shard
// locks and then s.mu. It fails if s is not under oldID, newID is taken (taken), or s is
// invalid or being expired: an expiry reads the session's id under s.mu and then removes
// it from the table under that id, so a rename in between would leave it in the table,
// invalid, for ever (TestExpiringSessionNotRenamed).
func (st *store) rename(oldID, newID string, s *Session) (ok, taken bool) {
	a, b := shardIndex(oldID), shardIndex(newID)
	first, second := &st.shards[min(a, b)], &st.shards[max(a, b)]
	first.mu.Lock()
	defer first.mu.Unlock()
	if first != second {
		second.mu.Lock()
		defer second.mu.Unlock()
	}
	if st.shards[a].m[oldID] != s {
		return false, false
	}
	if _, exists := st.shards[b].m[newID]; exists {
		return false, true
	}
	s.mu.Lock()
	if !s.valid || s.expiring {
		s.mu.Unlock()
		return false, false
	}
	delete(st.shards[a].m, oldID)
	st.shards[b].m[newID] = s
	st.renames.Add(1) // before the locks are released: see Manager.lookup
	s.id = newID
	s.mu.Unlock()
	if a != b && st.nWalks.Load() > 0 {
		st.movedShard(s, a)
	}
	return true, false
}

// movedShard tells the running walks that s moved out of shard from (the caller holds
// the locks of both shards). A session a walk has not tracked yet was copied iff its
// shard was; a walk that started after the caller took the locks has copied neither.
func (st *store) movedShard(s *Session, from int) {
	st.walksMu.Lock()
	defer st.walksMu.Unlock()
	for _, w := range st.walks {
		copied := from < int(w.next.Load())
		w.mu.Lock()
		if w.moved == nil {
			w.moved = map[*Session]bool{}
		}
		if _, tracked := w.moved[s]; !tracked {
			w.moved[s] = copied
		}
		w.mu.Unlock()
	}
}

// forEach calls f for every session, one shard at a time: the shard's sessions are copied
// into a reused slice under its read lock, sorted by address (sortByAddress), and f runs
// without any lock held. Sessions
// added or removed meanwhile may or may not be seen; a session renamed meanwhile is seen
// once (f reads its current id). f returning false stops early.
func (st *store) forEach(f func(*Session) bool) {
	w := &walk{}
	st.walksMu.Lock()
	st.walks = append(st.walks, w)
	st.nWalks.Add(1)
	st.walksMu.Unlock()
	defer func() {
		st.walksMu.Lock()
		st.walks = slices.DeleteFunc(st.walks, func(o *walk) bool { return o == w })
		st.nWalks.Add(-1)
		st.walksMu.Unlock()
	}()
	var buf []*Session
	for i := range st.shards {
		sh := &st.shards[i]
		sh.mu.RLock()
		buf = buf[:0]
		for _, s := range sh.m {
			buf = append(buf, s)
		}
		buf = w.filter(buf)
		w.next.Store(int32(i + 1))
		sh.mu.RUnlock()
		sortByAddress(buf)
		for j, s := range buf {
			buf[j] = nil
			if !f(s) {
				return
			}
		}
	}
	// Every shard is copied: a rename from now on marks the session copied.
	for _, s := range w.notCopied() {
		if !f(s) {
			return
		}
	}
}

// sortByAddress puts a shard's sessions in the order of their addresses in memory. A map
// lists them in no particular order, so a walk over a large table (a state transfer
// reads every session and its attribute values) jumps across the heap and waits for
// memory at nearly every session; sessions made one after the other lie one after the
// other, with their values, so that in address order the walk reads the heap mostly
// forward. Go's collector does not move objects: the addresses are stable.
func sortByAddress(buf []*Session) {
	slices.SortFunc(buf, func(a, b *Session) int {
		return cmp.Compare(uintptr(unsafe.Pointer(a)), uintptr(unsafe.Pointer(b)))
	})
}

// filter drops from a shard's copy the sessions w has copied already in another shard,
// and marks the others it tracks as copied (the caller holds the shard's read lock).
func (w *walk) filter(buf []*Session) []*Session {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.moved) == 0 {
		return buf
	}
	return slices.DeleteFunc(buf, func(s *Session) bool {
		copied, tracked := w.moved[s]
		if tracked && !copied {
			w.moved[s] = true
		}
		return copied
	})
}

// notCopied returns the sessions w tracked and never copied: moved from a shard not
// copied yet into one already copied.
func (w *walk) notCopied() []*Session {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []*Session
	for s, copied := range w.moved {
		if !copied {
			out = append(out, s)
		}
	}
	return out
}

// clear removes every session and returns them, and closes the store: nothing is added
// after it.
func (st *store) clear() []*Session {
	st.closed.Store(true) // before any shard is emptied: an add after its shard was sees it
	var out []*Session
	for i := range st.shards {
		sh := &st.shards[i]
		sh.mu.Lock()
		for id, s := range sh.m {
			out = append(out, s)
			delete(sh.m, id)
			st.n.Add(-1)
		}
		sh.mu.Unlock()
	}
	return out
}
