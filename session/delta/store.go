package delta

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
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
// locks are taken in index order.
type store struct {
	shards [nShards]shard
	n      atomic.Int64
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

// add inserts s under id unless the id is taken; it reports whether it inserted.
func (st *store) add(id string, s *Session) bool {
	sh := &st.shards[shardIndex(id)]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if _, ok := sh.m[id]; ok {
		return false
	}
	sh.m[id] = s
	st.n.Add(1)
	return true
}

// getOrAdd returns the session under id, inserting the one made by mk if there is none.
func (st *store) getOrAdd(id string, mk func() *Session) (s *Session, added bool) {
	sh := &st.shards[shardIndex(id)]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if s := sh.m[id]; s != nil {
		return s, false
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

// rename moves s from oldID to newID atomically, holding both shard locks and then s.mu
// while f updates the session. It fails if s is not under oldID or newID is taken.
func (st *store) rename(oldID, newID string, s *Session, f func()) (ok, taken bool) {
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
	delete(st.shards[a].m, oldID)
	st.shards[b].m[newID] = s
	f()
	return true, false
}

// forEach calls f for every session, one shard at a time: the shard's sessions are copied
// into a reused slice under its read lock and f runs without any lock held. Sessions
// added or removed meanwhile may or may not be seen. f returning false stops early.
func (st *store) forEach(f func(*Session) bool) {
	var buf []*Session
	for i := range st.shards {
		sh := &st.shards[i]
		sh.mu.RLock()
		buf = buf[:0]
		for _, s := range sh.m {
			buf = append(buf, s)
		}
		sh.mu.RUnlock()
		for j, s := range buf {
			buf[j] = nil
			if !f(s) {
				return
			}
		}
	}
}

// clear removes every session and returns them.
func (st *store) clear() []*Session {
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
