package delta

import (
	"slices"
)

// The session's state changes driven by the manager: creation, replication, expiry and
// what arrives from other nodes. Each method takes s.mu itself unless its name ends in
// Locked or its comment says the caller holds it.

// newPrimarySession returns a session created on this node with id, its first delta
// (isnew, max interval) recorded.
func newPrimarySession(m *Manager, id string, now int64) *Session {
	s := &Session{m: m, id: id, created: now, accessed: now, maxInactive: m.defaultMaxInactive(),
		isNew: true, valid: true, primary: true, lastRepl: now}
	s.noteSentLocked(now) // not shared yet: no lock
	s.record(Action{Type: ActionIsNew, Op: OpSet, Name: nameIsNew, Value: encodeBool(true)})
	s.record(Action{Type: ActionMaxInterval, Op: OpSet, Name: nameMaxInterval, Value: encodeInterval(s.maxInactive)})
	return s
}

// newReplica returns an empty copy of a session whose primary is on another node.
func newReplica(m *Manager, id string, created int64) *Session {
	return &Session{m: m, id: id, created: created, accessed: nowMs(), maxInactive: m.defaultMaxInactive(),
		isNew: true, valid: true}
}

// replicaWithAttr is a copy of a session allocated together with room for one attribute.
type replicaWithAttr struct {
	s    Session
	attr [1]attrEntry
}

// newTransferredReplica is newReplica for st, a transferred session. One with a single
// attribute (the usual case) is allocated with room for it: one object instead of two
// for the joiner to allocate, and for the collector to mark, per session.
func newTransferredReplica(m *Manager, st *SessionState) *Session {
	if len(st.Attributes) != 1 {
		return newReplica(m, st.ID, st.CreationTime)
	}
	// Its times are those load gives it right after (no clock read per session).
	r := &replicaWithAttr{}
	r.s = Session{m: m, id: st.ID, created: st.CreationTime, accessed: st.LastAccessedTime, maxInactive: st.MaxInactive,
		isNew: true, valid: true, attrs: r.attr[:0]}
	return &r.s
}

// findable reports whether Find may return the session at now (unix ms): it is alive and
// not idle past its timeout (twice that for a copy whose primary is elsewhere: the
// primary may not have said it was used, Tomcat's rule).
func (s *Session) findable(now int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	factor := int64(1)
	if !s.primary {
		factor = 2
	}
	return s.valid && !s.expiring && !s.idleFor(now, factor)
}

// expiryDue reports whether the sweep should expire the session at now, and whether it
// is primary here (then the cluster is told).
func (s *Session) expiryDue(now int64) (due, primary bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	primary = s.primary
	due = s.valid && !s.expiring && (primary && s.idleFor(now, 1) || !primary && s.idleFor(now, 2))
	return due, primary
}

// takeDelta ends a request on the session (Manager.Replicate): the session becomes
// primary here and its pending changes are taken. It returns the message to send, nil
// when there is nothing to tell (or nobody: members false), and the actions it carries,
// to requeue if sending fails.
func (s *Session) takeDelta(now int64, members bool) (*Message, []Action) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.takeDeltaLocked(now, members)
}

// quiet reports whether takeDelta(now, ...) would return no message, whatever the
// members, and no message of s is queued: nothing to replicate or wait for.
func (s *Session) quiet(now int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.queued || s.m.cfg.DetectMutations {
		return false
	}
	return !s.valid || s.expiring || len(s.pending) == 0 && s.primary && !s.accessDue(now)
}

// accessDue reports whether an EVT_SESSION_ACCESSED is due: the session was not
// replicated for longer than its max inactive interval. s.mu is held.
func (s *Session) accessDue(now int64) bool {
	return s.maxInactive > 0 && now-s.lastRepl > int64(s.maxInactive)*1000
}

// takeDeltaLocked is takeDelta with s.mu held.
func (s *Session) takeDeltaLocked(now int64, members bool) (*Message, []Action) {
	if !s.valid || s.expiring {
		return nil, nil
	}
	if s.m.cfg.DetectMutations {
		if n := s.detectMutations(); n > 0 {
			s.m.stats.mutations.Add(uint64(n))
		}
	}
	wasPrimary := s.primary
	s.primary = true
	actions := s.pending
	s.pending = nil
	var msg *Message
	switch {
	case !members:
		// Nobody to tell: the delta is dropped, as Tomcat resets it without members; its
		// array is kept for the next request's actions.
		s.settleHere()
		clear(actions)
		s.pending, actions = actions[:0], nil
	case len(actions) > 0:
		// Above every change of another node this copy holds, even if its version says
		// less (a failed delta gives its version back but its stamps stay on the copies
		// it reached, and travel in transfers and refreshes from them).
		s.version = max(s.version, s.foreignVersion()) + 1
		s.stampLocal(actions, stamp{s.version, s.m.cl.origin()})
		msg = &Message{Event: EventDelta, SessionID: s.id, Timestamp: now, Version: s.version, Actions: actions}
	case !wasPrimary:
		msg = &Message{Event: EventAccessed, SessionID: s.id, Timestamp: now}
	case s.accessDue(now):
		msg = &Message{Event: EventAccessed, SessionID: s.id, Timestamp: now}
	}
	if msg != nil {
		s.lastRepl = now
		s.noteSentLocked(now)
	}
	return msg, actions
}

// requeue puts actions that failed to replicate back, unless the session is gone;
// unsent says msg never left this node (unsent.go).
func (s *Session) requeue(msg *Message, actions []Action, unsent bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stampOfDelta(msg)
	if len(actions) > 0 && s.valid {
		s.restore(actions, st, unsent)
	}
	// Take back the version the delta took (a refresh, refresh.go, compares versions),
	// unless the session changed version since, or a concurrent delta of another node
	// with that version was applied: this node's next delta must come after it.
	if v := st.version; v > 0 && s.version == v && !s.appliedFromOthers(v) {
		s.version--
	}
}

// stampOfDelta returns the stamp msg, a delta of this node's, gave its attribute changes
// (takeDelta); zero for other messages.
func (s *Session) stampOfDelta(msg *Message) stamp {
	if msg == nil || msg.Event != EventDelta {
		return stamp{}
	}
	return stamp{msg.Version, s.m.cl.origin()}
}

// loadIfNewer replaces the copy's content with st, a member's copy of a higher version (a
// refresh's), keeping this node's changes not sent yet (refresh_keep.go), unless the
// session is being expired. It reports whether it did.
func (s *Session) loadIfNewer(st *SessionState) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.expiring || !s.valid || s.version >= st.Version {
		return false
	}
	s.loadKeepingUnsent(st)
	return true
}

// reuse gives the array of actions that were sent back to the session for its next
// changes, if it has none yet.
func (s *Session) reuse(actions []Action) {
	if cap(actions) == 0 {
		return
	}
	clear(actions)
	s.mu.Lock()
	if s.pending == nil {
		s.pending = actions[:0]
	}
	s.mu.Unlock()
}

// expiry is what beginExpire hands to the manager to tell the cluster.
type expiry struct {
	id      string
	pending []Action // changes not replicated yet
	version uint64   // the version for a delta carrying them
	named   []string // named listeners attached
}

// beginExpire marks the session as expiring; ok is false if it is already gone or going.
func (s *Session) beginExpire() (e expiry, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.valid || s.expiring {
		return e, false
	}
	s.expiring = true
	e = expiry{id: s.id, pending: s.pending, version: max(s.version, s.foreignVersion()) + 1, named: slices.Clone(s.e().named)}
	s.pending = nil
	return e, true
}

// endExpire empties the expiring session and makes it invalid. It returns an
// attribute-removed notice per attribute when attribute listeners are configured.
func (s *Session) endExpire() []notice {
	s.mu.Lock()
	defer s.mu.Unlock()
	var removed []notice
	if len(s.m.cfg.AttributeListeners) > 0 {
		for i := range s.attrs {
			v, _ := s.decode(&s.attrs[i])
			removed = append(removed, notice{kind: nRemoved, name: s.attrs[i].name, value: v})
		}
	}
	s.attrs, s.tombs = nil, nil
	if s.ext != nil {
		s.ext.notes, s.ext.named = nil, nil
	}
	s.valid, s.expiring = false, false
	return removed
}

// endRequest records the end of a request that used the session: the client has joined it.
func (s *Session) endRequest() {
	s.mu.Lock()
	if s.valid {
		s.accessed, s.lastAccess = nowMs(), 0
		s.isNew = false
	}
	s.mu.Unlock()
}

// accessedElsewhere records an EVT_SESSION_ACCESSED: another node served the session.
func (s *Session) accessedElsewhere() {
	s.mu.Lock()
	s.accessed = nowMs()
	s.primary = false
	s.isNew = false
	s.mu.Unlock()
}

// applyDelta applies an EVT_SESSION_DELTA from the node whose origin (originOf) is
// given and returns the listener calls to make (notify: whether listeners hear of
// replicated changes). now (ms since the epoch) is the session's new last access time;
// 0, or a time before the session's last access, reads the clock.
func (s *Session) applyDelta(msg *Message, origin uint32, notify bool, now int64) []notice {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.valid || s.expiring {
		return nil
	}
	var st stamp
	if msg.Version > 0 { // a Go node's: attribute changes carry stamps (stamp.go)
		st = stamp{msg.Version, origin}
	}
	// A delta of a node that applied a later one of the same node first was overtaken by
	// it (asynchronous sends on different connections): its attribute changes go by their
	// stamps, the rest (principal, auth type, max inactive interval, notes, listeners,
	// isnew) has been replaced by the later delta's and is skipped (expired.go).
	overtaken := st.version > 0 && origin == s.lastOrigin && st.version < s.lastVersion
	ns := s.applyActions(msg.Actions, st, notify, msg.ownValues, overtaken)
	if !overtaken {
		s.lastVersion, s.lastOrigin = st.version, st.origin
		if !hasAction(msg.Actions, ActionIsNew) {
			s.isNew = false // a later request: the client has joined the session
		}
	}
	if msg.Version > 0 {
		// A concurrent delta of another node may carry a version this copy already has
		// (or passed): the next delta made here must take a version above both.
		s.version = max(s.version, msg.Version)
	} else {
		s.version = 0 // Tomcat's: the versions of the Go nodes count from it again
	}
	if now == 0 || now < s.accessed {
		// A batch's now (read once for all its messages) is behind an access noted since
		// (another connection's batch, a request here): the clock, as for a message
		// alone, so that the access time does not go back (TestBatchClockDoesNotMoveAccessBack).
		now = nowMs()
	}
	s.accessed = now
	s.primary = false
	s.noteTakenLocked(s.accessed)
	return ns
}

// missed reports whether a delta of the given version comes after changes this copy
// lacks (0, Tomcat's, tells nothing).
func (s *Session) missed(version uint64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	// A node's delta takes a version above the stamps it holds, which this copy holds too
	// when it missed nothing (takeDelta): the version may jump past the copy's.
	return version > s.topVersion()+1
}

// raiseAbove raises the version of s, renamed back to an id whose record of the rename
// away is at version, above it and every change s holds, unless a change since is above
// the record already; it returns the new version, or 0 if it did not raise it.
func (s *Session) raiseAbove(version uint64) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	top := s.topVersion()
	if top > version {
		return 0
	}
	s.version = top + 1
	return s.version
}

// raise raises the version of s above every change it holds and returns it.
func (s *Session) raise() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.version = s.topVersion() + 1
	return s.version
}

// raisedTo gives the copy s the version a rename back raised the session to (raiseAbove)
// if it holds every change below it; a copy that missed one keeps its version, so that
// the missing change is still found (missed, a refresh or repair).
func (s *Session) raisedTo(version uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if version <= s.topVersion()+1 {
		s.version = max(s.version, version)
	}
}

// olderThan reports whether the session's version is below version.
func (s *Session) olderThan(version uint64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.version < version
}

// transferable returns the session in transferable form, if it is alive. Its attributes
// and notes are appended to *nv, the array a transfer chunk's sessions share (reused
// from chunk to chunk), instead of arrays of their own. With tombs (the joiner asked for
// stamps, AskStamps), it is stamped and its removals are appended to *tombs likewise.
// With AskBorn in ask, it carries the version of the removal it was made again above;
// with AskMetaStamps, the stamps of its parts that are not attributes; with AskLeft, the
// ids binder's renames took it away from.
func (s *Session) transferable(nv *[]NamedValue, tombs *[]tomb, ask uint64) (SessionState, bool) {
	st, _, ok := s.transferableMarked(nv, tombs, ask)
	return st, ok
}

// transferableMarked is transferable, reporting too whether the session, stamped, carries
// a change of this node refused before any send (yieldUnsent).
func (s *Session) transferableMarked(nv *[]NamedValue, tombs *[]tomb, ask uint64) (st SessionState, refused, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.valid || s.expiring {
		return SessionState{}, false, false
	}
	st = s.state(nv)
	if ask&AskBorn != 0 {
		st.born = s.e().born
	}
	if ask&AskMetaStamps != 0 && len(s.e().meta) > 0 {
		st.meta = slices.Clone(s.e().meta)
	}
	if ask&AskLeft != 0 && len(s.e().left) > 0 {
		st.left = leftIDs(s.e().left)
		if ask&askLeftAt != 0 {
			st.leftAt = leftTimes(s.e().left)
		}
	}
	if tombs != nil {
		st.stamped = true
		if len(s.tombs) > 0 {
			at := len(*tombs)
			*tombs = append(*tombs, s.tombs[max(0, len(s.tombs)-maxTombs):]...) // marked ones may pass it
			st.tombs = (*tombs)[at:len(*tombs):len(*tombs)]
		}
		refused = s.yieldUnsent(&st)
	}
	return st, refused, true
}

// yieldUnsent gives the changes of st (s's stamped transferable form) that this node
// made and that were refused before any send (a pending action marked unsent: nobody
// else holds them) the origin 0 beside their version, the lowest stamp of that version:
// the node it goes to (a catch-up's asker, a joiner, a member repaired or refreshed)
// takes such a change over an older one, as a delta of it would bring it, but keeps any
// other node's change at its version or later, as this node would on meeting it
// (unsent.go): shipped under this node's origin, it won there over an acknowledged change
// of its version whose origin orders first
// (TestMemberBackAnswerCarriesNoRefusedChange). It reports whether st carries such a
// change (serveAll counts them: transfer_unsent.go). The caller holds s.mu.
func (s *Session) yieldUnsent(st *SessionState) (refused bool) {
	unsent := func(typ ActionType, name string) bool {
		for _, p := range s.pending {
			if p.Type == typ && p.Name == name {
				return p.unsent
			}
		}
		return false
	}
	if !slices.ContainsFunc(s.pending, func(p Action) bool { return p.unsent }) {
		return false
	}
	for i := range st.Attributes {
		if nv := &st.Attributes[i]; nv.version > 0 && unsent(ActionAttribute, nv.Name) {
			nv.origin, refused = 0, true
		}
	}
	for i := range st.tombs {
		if t := &st.tombs[i]; t.st.version > 0 && unsent(ActionAttribute, t.name) {
			t.st.origin, refused = 0, true
		}
	}
	for i := range st.meta {
		if m := &st.meta[i]; m.st.version > 0 && unsent(m.typ, m.name) {
			m.st.origin, refused = 0, true
		}
	}
	return refused
}

// loadTransferred replaces the copy's content with st from a state transfer, unless the
// session is being expired or is gone (an expiry or invalidation between its lookup and
// this load: TestTransferredLoadDoesNotReviveAnExpiredSession). A repair's load (of a copy held under another route) keeps
// this node's changes not sent yet, every part's, as a refresh's does (refresh_keep.go):
// its next delta sends them, and they must be what this node holds too.
func (s *Session) loadTransferred(st *SessionState) {
	s.mu.Lock()
	if !s.expiring && s.valid {
		s.loadKeepingUnsent(st)
	}
	s.mu.Unlock()
}
