package delta

import "sync"

// A change of a session can cross a rename of it: node B sends a delta under the
// session's id while node A renames the session (a login's ChangeSessionID, a binder's
// rename), and B applies the rename while its delta is on its way. The delta then names
// an id A no longer holds, and was dropped there (an id a node renamed is not asked for
// again), though A acknowledged it: B kept the change, A never had it. So every node
// remembers the sessions it renamed, or saw renamed, lately (recentRenames), and a delta,
// an access or an expiry naming an old id applies to the session it became. Requests
// never look sessions up this way: an id changed at login stays dead for clients.

// maxRecentRenames bounds the renames a manager remembers; the oldest are forgotten.
const maxRecentRenames = 1 << 12

// recentRenames maps the old ids of sessions renamed lately to the sessions.
type recentRenames struct {
	mu    sync.Mutex
	byID  map[string]*Session
	order []string // ring of the ids in byID, oldest at next once full
	next  int
}

// noteRenamed records that s was renamed from old.
func (m *Manager) noteRenamed(old string, s *Session) {
	r := &m.renamedIDs
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.byID == nil {
		r.byID = map[string]*Session{}
	}
	if _, ok := r.byID[old]; ok {
		r.byID[old] = s
		return
	}
	if len(r.order) < maxRecentRenames {
		r.order = append(r.order, old)
	} else {
		delete(r.byID, r.order[r.next])
		r.order[r.next] = old
		r.next = (r.next + 1) % maxRecentRenames
	}
	r.byID[old] = s
}

// renamedFrom returns the session renamed lately from old, if this node still holds it.
func (m *Manager) renamedFrom(old string) *Session {
	r := &m.renamedIDs
	r.mu.Lock()
	s := r.byID[old]
	r.mu.Unlock()
	if s == nil || m.st.get(s.ID()) != s {
		return nil
	}
	return s
}

// targetOf returns the session a delta, an access or an expiry from the cluster names:
// replicaOf's, or the one renamed lately from id. (An id change names its session by
// replicaOf alone: two renames that cross end as the members' route renames do.)
func (m *Manager) targetOf(id string) *Session {
	if s := m.replicaOf(id); s != nil {
		return s
	}
	return m.renamedFrom(id)
}
