package jserial

import "unsafe"

// refKey identifies a Java object: a Go address (and length, for strings and slices)
// of a kind, or a small boxed value Java's valueOf caches. The address is a uintptr
// (no write barriers, no GC scanning of the table); the values written stay reachable
// while the table is used (Marshal's argument; Encoder.keep), and Go's heap does not
// move, so an address names one object.
type refKey struct {
	p uintptr
	n int64
	k kind
}

// ref writes TC_REFERENCE if k was written before and reports whether it did. A key of
// kind kindNone names no object that can be written again.
func (s *encState) ref(k refKey) bool {
	if k.k == kindNone {
		return false
	}
	if h, ok := s.handles.get(k); ok {
		s.buf = append(s.buf, tcReference)
		s.u32(uint32(baseWireHandle + h))
		return true
	}
	return false
}

// assign gives the next handle to k (an object that cannot be referenced again: a nil p
// with kind 0).
func (s *encState) assign(k refKey) {
	if k.k != kindNone {
		s.handles.put(k, s.next)
	}
	s.next++
}

func ptrKey[T any](p *T) refKey { return refKey{p: uintptr(unsafe.Pointer(p)), k: kindPtr} }

// sliceKey identifies a slice by its memory. A slice of capacity 0 has none of its
// own (distinct empty slices share the runtime's zero-size base): it gets no identity,
// so each is written as a new object. The decoder gives every slice a capacity of at
// least 1, so a decoded stream keeps its references.
func sliceKey[T any](a []T, k kind) refKey {
	if cap(a) == 0 {
		return refKey{}
	}
	return refKey{p: uintptr(unsafe.Pointer(unsafe.SliceData(a))), n: int64(len(a)), k: k}
}

// Kinds of refKey beyond the mapped classes.
const (
	kindString kind = 100 + iota
	kindPtr
)

// handleTable maps refKeys to handles: open addressing with linear probing and a
// cheap multiplicative hash, faster than a Go map for these 24-byte keys. A zero
// kind marks an empty slot (keys of kind kindNone are never stored).
type handleTable struct {
	keys []refKey
	vals []int32
	used int
}

func (t *handleTable) slot(k refKey) int {
	h := (uint64(k.p) ^ uint64(k.n)*0x9E3779B97F4A7C15 ^ uint64(k.k)<<56) * 0xBF58476D1CE4E5B9
	return int(h>>32) & (len(t.keys) - 1)
}

func (t *handleTable) get(k refKey) (int32, bool) {
	if t.used == 0 {
		return 0, false
	}
	for i := t.slot(k); ; i = (i + 1) & (len(t.keys) - 1) {
		switch t.keys[i] {
		case k:
			return t.vals[i], true
		case refKey{}:
			return 0, false
		}
	}
}

// getOrPut returns the handle of k, or stores v for it and reports false.
func (t *handleTable) getOrPut(k refKey, v int32) (int32, bool) {
	if 2*(t.used+1) > len(t.keys) {
		t.grow()
	}
	i := t.slot(k)
	for {
		switch t.keys[i] {
		case k:
			return t.vals[i], true
		case refKey{}:
			t.keys[i], t.vals[i] = k, v
			t.used++
			return 0, false
		}
		i = (i + 1) & (len(t.keys) - 1)
	}
}

func (t *handleTable) put(k refKey, v int32) {
	if 2*(t.used+1) > len(t.keys) {
		t.grow()
	}
	i := t.slot(k)
	for t.keys[i] != (refKey{}) && t.keys[i] != k {
		i = (i + 1) & (len(t.keys) - 1)
	}
	if t.keys[i] == (refKey{}) {
		t.used++
	}
	t.keys[i], t.vals[i] = k, v
}

func (t *handleTable) grow() {
	old, oldv := t.keys, t.vals
	n := max(64, 2*len(old))
	t.keys, t.vals, t.used = make([]refKey, n), make([]int32, n), 0
	for i, k := range old {
		if k != (refKey{}) {
			t.put(k, oldv[i])
		}
	}
}

// dropFrom removes the keys whose handle is v or later.
func (t *handleTable) dropFrom(v int32) {
	old, oldv := t.keys, t.vals
	t.keys, t.vals, t.used = make([]refKey, len(old)), make([]int32, len(old)), 0
	for i, k := range old {
		if k != (refKey{}) && oldv[i] < v {
			t.put(k, oldv[i])
		}
	}
}

// reset empties the table; a table grown large by one stream is dropped.
func (t *handleTable) reset() {
	if len(t.keys) > 4096 {
		*t = handleTable{}
		return
	}
	if t.used > 0 {
		clear(t.keys)
		t.used = 0
	}
}
