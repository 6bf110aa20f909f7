package delta

// A change of a session can cross a rename of it: node B sends a delta under the
// session's id while node A renames the session (a login's ChangeSessionID, a binder's
// rename), and B applies the rename while its delta is on its way. The delta then names
// an id A no longer holds, and was dropped there (an id a node renamed is not asked for
// again), though A acknowledged it: B kept the change, A never had it. So every node
// remembers the sessions it renamed, or saw renamed, lately (its record of removals, removals.go), and a delta,
// an access or an expiry naming an old id applies to the session it became. Requests
// never look sessions up this way: an id changed at login stays dead for clients.

// noteRenamed records that s was renamed from old, in the manager's record of removals
// (removals.go), with the highest version s knew then: a copy under old up to it is
// stale (a refresh or a joiner's catch-up removes it, mergeRemoval).
func (m *Manager) noteRenamed(old string, s *Session) {
	s.mu.Lock()
	sec, v := s.maxInactive, s.topVersion()
	s.mu.Unlock()
	m.gone.note(old, v, keepRemoval(sec), true, s)
}

// renamedFrom returns the session renamed lately from old, if this node still holds it.
func (m *Manager) renamedFrom(old string) *Session {
	s := m.gone.renamedTo(old)
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
