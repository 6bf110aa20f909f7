package delta

import "sync"

// recent is a bounded map of the last max keys put in it (the records of removals and
// renames a manager keeps lately: expired.go, renamed.go); when full, putting a new key
// forgets the oldest. Safe for concurrent use.
type recent[V any] struct {
	mu    sync.Mutex
	max   int
	byID  map[string]V
	order []string // ring of the keys in byID, oldest at next once full
	next  int
}

// put sets key's value to v, or, for a key held and a merge function, to merge(old, v).
func (r *recent[V]) put(key string, v V, merge func(old, v V) V) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.byID == nil {
		r.byID = map[string]V{}
	}
	if old, ok := r.byID[key]; ok {
		if merge != nil {
			v = merge(old, v)
		}
		r.byID[key] = v
		return
	}
	if len(r.order) < r.max {
		r.order = append(r.order, key)
	} else {
		delete(r.byID, r.order[r.next])
		r.order[r.next] = key
		r.next = (r.next + 1) % r.max
	}
	r.byID[key] = v
}

// get returns key's value, if held.
func (r *recent[V]) get(key string) (V, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	v, ok := r.byID[key]
	return v, ok
}
