package delta

import "sync"

// chunkArrays are what a transfer chunk's sessions are decoded into: the SessionState of
// each, the NamedValue of their attributes and notes (a chunk's sessions share one
// array, filled in order), and the names seen, so that each distinct attribute name is
// one string however many sessions have it. A joiner applies a chunk and is done with
// them (Session.load copies what it keeps), so the cluster hands them back (release)
// for the next chunk instead of allocating and collecting about 190 bytes per session.
type chunkArrays struct {
	sessions []SessionState
	values   []NamedValue
	names    map[string]string
}

// Bounds of what chunkArrays keep for reuse: a chunk larger than that (a malformed or
// unusual one) gets arrays of its own, left to the collector.
const (
	maxPooledSessions = 4096
	maxPooledValues   = 4 * maxPooledSessions
	maxPooledNames    = 256
	maxPooledNameLen  = 64
)

var chunkPool = sync.Pool{New: func() any { return &chunkArrays{names: map[string]string{}} }}

func getChunkArrays(n int) *chunkArrays {
	a := chunkPool.Get().(*chunkArrays)
	if cap(a.sessions) < n {
		a.sessions = make([]SessionState, 0, n)
	}
	return a
}

// release hands a decoded chunk's arrays back for reuse, cleared so that they keep no
// received bytes alive; m must not be used afterwards.
func (m *Message) release() {
	a := m.chunk
	if a == nil {
		return
	}
	clear(m.Sessions)
	m.chunk, m.Sessions = nil, nil
	if cap(a.sessions) > maxPooledSessions || cap(a.values) > maxPooledValues {
		return
	}
	clear(a.values)
	a.values = a.values[:0]
	chunkPool.Put(a)
}

// namedValues returns room for n NamedValue from the chunk's array (a slice of length
// 0 and capacity n), or a new slice when the message is no chunk.
func (r *reader) namedValues(n int) []NamedValue {
	a := r.arrays
	if a == nil {
		return make([]NamedValue, 0, n)
	}
	if cap(a.values)-len(a.values) < n {
		a.values = make([]NamedValue, 0, max(n, 2*cap(a.values), 1024))
	}
	at := len(a.values)
	a.values = a.values[:at+n]
	return a.values[at : at : at+n]
}

// name reads an attribute or note name, one string per distinct short name across the
// chunks a chunkArrays decodes.
func (r *reader) name() string {
	b := r.take(r.maxString, "string")
	if r.arrays == nil || len(b) > maxPooledNameLen {
		return string(b)
	}
	if s, ok := r.arrays.names[string(b)]; ok {
		return s
	}
	s := string(b)
	if len(r.arrays.names) < maxPooledNames {
		r.arrays.names[s] = s
	}
	return s
}
