package delta

import (
	"bytes"
	"context"
	"math"
	"slices"

	"github.com/gotribes/tribes/channel"
)

// Concurrent changes of one attribute on two nodes (a balancer without stickiness sending
// two requests of a session to two nodes at once) reach each node in a different order.
// Applied in arrival order, as Tomcat does, each node would keep the other's value. So
// every attribute carries the stamp of the change that set it (or removed it: a
// tombstone), and a change from another Go node applies only if its stamp is not older:
// the last writer wins, the same on every node.
//
// A stamp is the session's version the delta carried, then the sender's origin (a hash of
// its member's unique id) to order two changes of one version. A node takes the version of
// a new delta above every version it applied and every other node's stamp it holds, so a
// change made after another was applied wins over it; changes that did not see each other
// are ordered by origin. Tomcat's deltas carry no version (0): they apply in arrival
// order, as before, and leave the attribute stamped zero.
type stamp struct {
	version uint64
	origin  uint32
}

// notBefore reports whether a change stamped a may replace one stamped b. Equal stamps
// come from one sender (its delta sent again after a failure), whose messages arrive in
// order: the later one applies.
func (a stamp) notBefore(b stamp) bool {
	return a.version > b.version || a.version == b.version && a.origin >= b.origin
}

// originOf is the origin part of the stamps of changes made by member: the FNV-1a hash
// of its whole unique id (configured ids often differ in one byte only).
func originOf(member channel.Member) uint32 {
	h := uint32(2166136261)
	for _, b := range member.UniqueID {
		h = (h ^ uint32(b)) * 16777619
	}
	return h
}

// tomb records the removal of an attribute, so that an older change setting it does not
// bring it back.
type tomb struct {
	name string
	st   stamp
	here bool // removed on this node since st (attrEntry.here)
}

// maxTombs bounds the removals a session remembers (the oldest not made here and not
// sent yet is forgotten first): a change that sets an attribute whose removal was
// forgotten applies, as in arrival order (but a refresh does not take one: forgot).
const maxTombs = 8

// ---- the caller holds s.mu ----

// stampOf returns the stamp of attribute name: its entry's, or its tombstone's, or zero.
func (s *Session) stampOf(name string) stamp {
	if i := s.find(name); i >= 0 {
		return s.attrs[i].stamp()
	}
	for _, t := range s.tombs {
		if t.name == name {
			return t.st
		}
	}
	return stamp{}
}

// bury records the removal of attribute name with st.
func (s *Session) bury(name string, st stamp) { s.addTomb(tomb{name: name, st: st}) }

// buryHere records the removal of attribute name on this node, its stamp (st, the
// removed value's) given anew when its delta is taken.
func (s *Session) buryHere(name string, st stamp) { s.addTomb(tomb{name: name, st: st, here: true}) }

// addTomb adds t, forgetting the oldest removal past maxTombs, but not one made here and
// not sent yet (its mark keeps older changes out: changedHere); those are trimmed once
// their delta is taken (stampLocal).
func (s *Session) addTomb(t tomb) {
	s.unbury(t.name)
	if len(s.tombs) >= maxTombs {
		if i := slices.IndexFunc(s.tombs, func(t tomb) bool { return !t.here }); i >= 0 {
			s.forget(i)
		}
	}
	s.tombs = append(s.tombs, t)
}

// forget drops tombstone i, keeping the highest version forgotten.
func (s *Session) forget(i int) {
	s.forgot = max(s.forgot, uint32(min(s.tombs[i].st.version, math.MaxUint32)))
	s.tombs = slices.Delete(s.tombs, i, i+1)
}

// highestVersion is topVersion, with s.mu taken.
func (s *Session) highestVersion() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.topVersion()
}

// topVersion returns the highest version the copy knows of: its own, its stamps' (of any
// node: a failed delta gives its version back, but its stamps stay and travel) and its
// forgotten tombstones'.
func (s *Session) topVersion() uint64 {
	v := max(s.version, uint64(s.forgot))
	for i := range s.attrs {
		v = max(v, s.attrs[i].version)
	}
	for _, t := range s.tombs {
		v = max(v, t.st.version)
	}
	for _, m := range s.e().meta {
		v = max(v, m.st.version)
	}
	return v
}

// trimTombs forgets the oldest removals past maxTombs that are not marked here.
func (s *Session) trimTombs() {
	for len(s.tombs) > maxTombs {
		i := slices.IndexFunc(s.tombs, func(t tomb) bool { return !t.here })
		if i < 0 {
			return
		}
		s.forget(i)
	}
}

// raiseStamp gives attribute name's entry or tombstone, changed here and not sent yet,
// the stamp st of a change it skipped, if st is newer.
func (s *Session) raiseStamp(name string, st stamp) {
	if i := s.find(name); i >= 0 {
		if e := &s.attrs[i]; st.notBefore(e.stamp()) {
			e.setStamp(st)
		}
		return
	}
	for i := range s.tombs {
		if t := &s.tombs[i]; t.name == name && st.notBefore(t.st) {
			t.st = st
		}
	}
}

// changedHere reports whether attribute name was changed (set or removed) on this node
// since its stamp was given: a change of another node to it is skipped, whatever its
// stamp, as this node's delta will be stamped above every change applied (and is the
// later one: this node had not seen that change when it made its own).
func (s *Session) changedHere(name string) bool {
	if i := s.find(name); i >= 0 {
		return s.attrs[i].here
	}
	for _, t := range s.tombs {
		if t.name == name {
			return t.here
		}
	}
	return false
}

// settleHere forgets the marks of changes made here (changedHere) that will not be
// sent: nobody to tell them.
func (s *Session) settleHere() {
	for i := range s.attrs {
		s.attrs[i].here = false
	}
	for i := range s.tombs {
		s.tombs[i].here = false
	}
	s.trimTombs()
}

// unbury forgets the removal of attribute name (it is set again).
func (s *Session) unbury(name string) {
	for i, t := range s.tombs {
		if t.name == name {
			s.tombs = append(s.tombs[:i], s.tombs[i+1:]...)
			return
		}
	}
}

// stampLocal stamps the changes of a delta this node sends with st.
func (s *Session) stampLocal(actions []Action, st stamp) {
	for _, a := range actions {
		if a.Type != ActionAttribute {
			s.setMetaStamp(a.Type, a.Name, st)
			continue
		}
		if a.Op == OpRemove {
			if s.find(a.Name) < 0 {
				s.bury(a.Name, st)
			}
			continue
		}
		if i := s.find(a.Name); i >= 0 {
			s.attrs[i].setStamp(st)
			s.attrs[i].here = false
		}
	}
	s.trimTombs()
	s.trimMeta()
}

// foreignVersion returns the highest version of another node's stamp this copy holds.
func (s *Session) foreignVersion() uint64 {
	self := s.m.cl.origin()
	var v uint64
	for i := range s.attrs {
		if e := &s.attrs[i]; e.origin != self {
			v = max(v, e.version)
		}
	}
	for _, t := range s.tombs {
		if t.st.origin != self {
			v = max(v, t.st.version)
		}
	}
	for _, m := range s.e().meta {
		if m.st.origin != self {
			v = max(v, m.st.version)
		}
	}
	return v
}

// appliedFromOthers reports whether this copy holds a change of another node stamped
// version v or later: a concurrent delta of the version a failed delta of this node took.
// Then v stays taken (requeue), so that this node's next delta wins over that change.
func (s *Session) appliedFromOthers(v uint64) bool {
	self := s.m.cl.origin()
	for i := range s.attrs {
		if e := &s.attrs[i]; e.version >= v && e.origin != self {
			return true
		}
	}
	for _, t := range s.tombs {
		if t.st.version >= v && t.st.origin != self {
			return true
		}
	}
	for _, m := range s.e().meta {
		if m.st.version >= v && m.st.origin != self {
			return true
		}
	}
	return false
}

// unchanged reports whether attribute action a, part of a delta of this node stamped st
// that failed to replicate, still holds: no later change (another node's, applied since)
// replaced it. Only those are restored for the next delta; a zero st (no stamps) keeps
// every action.
func (s *Session) unchanged(a Action, st stamp) bool {
	switch {
	case st.version == 0:
		return true
	case a.Type != ActionAttribute:
		return s.metaStampOf(a.Type, a.Name) == st // no later change of another node
	case a.Op == OpRemove:
		// Still removed here (its tombstone may be gone: a session keeps maxTombs).
		return s.find(a.Name) < 0
	}
	return s.stampOf(a.Name) == st
}

// dropStale drops e, a message the copy loaded from a member already reflects (a delta
// older than the member's snapshot, or not newer than the copy), except, when the copy
// came with stamps, the attribute changes of a Go node's delta: the stamps skip those the
// copy holds or replaced, and apply one the member had not applied yet when it took its
// snapshot (a concurrent change that wins by its origin, arriving there later).
//
// An expiry of a session the copy lacks is remembered all the same (expired.go): a
// creation or first delta of the session that it overtook, arriving after the transfer,
// must not make the copy again (TestStaleExpiryDuringTransferIsRemembered). So is an id
// change whose session the copy holds under its new id (renamed.go): a delta under the
// old id that crossed the rename applies to it (TestStaleRenameDuringTransferIsRemembered).
func (m *Manager) dropStale(ctx context.Context, e queued) {
	m.stats.droppedStale.Add(1)
	msg := e.msg
	switch msg.Event {
	case EventExpired:
		if m.replicaOf(msg.SessionID) == nil {
			m.noteExpired(msg.SessionID, msg.Version)
		}
	case EventChangeSessionID:
		if s := m.replicaOf(msg.NewID); s != nil && validID(msg.SessionID) && m.replicaOf(msg.SessionID) == nil {
			m.noteRenamed(msg.SessionID, s)
		}
	}
	if msg.Event != EventDelta || msg.Version == 0 {
		return
	}
	s := m.st.get(msg.SessionID)
	if s == nil || !s.stamped() {
		return
	}
	var attrs []Action
	for _, a := range msg.Actions {
		if a.Type == ActionAttribute {
			attrs = append(attrs, a)
		}
	}
	if len(attrs) > 0 {
		m.fire(ctx, s, true, s.applyAttributes(attrs, stamp{msg.Version, originOf(e.src)}, m.notifyReplicated())...)
	}
}

// stamped reports whether the copy's attribute stamps are its members' (it was not loaded
// from a member that sent none).
func (s *Session) stamped() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.unstamped
}

// applyAttributes applies attribute changes stamped st (dropStale), but not those the
// copy already holds (the same stamp and value), and returns the listener calls to make.
func (s *Session) applyAttributes(actions []Action, st stamp, notify bool) []notice {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.valid || s.expiring {
		return nil
	}
	actions = slices.DeleteFunc(actions, func(a Action) bool { return s.holds(a, st) })
	return s.apply(actions, st, notify, false)
}

// holds reports whether the copy holds attribute change a stamped st already.
func (s *Session) holds(a Action, st stamp) bool {
	if s.stampOf(a.Name) != st {
		return false
	}
	i := s.find(a.Name)
	if a.Op == OpRemove {
		return i < 0
	}
	return i >= 0 && bytes.Equal(s.attrs[i].data, a.Value)
}

// mergeStamped applies what st, a member's copy of this session that is not newer by
// version, holds that this copy lacks by the stamps: concurrent changes, which versions
// alone do not tell apart (a refresh after a partition). It returns the listener calls to
// make and whether anything changed.
func (s *Session) mergeStamped(st *SessionState, notify bool) ([]notice, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !st.stamped || s.unstamped || !s.valid || s.expiring {
		return nil, false
	}
	// An attribute absent here and set no later than a removal forgotten stays absent: it
	// may be one of those removed.
	forgotten := uint64(s.forgot)
	var out []notice
	changed := false
	one := func(a Action, at stamp) {
		if at.version == 0 || s.holds(a, at) ||
			a.Op == OpSet && at.version <= forgotten && s.stampOf(a.Name) == (stamp{}) {
			return
		}
		out = append(out, s.apply([]Action{a}, at, notify, false)...)
		changed = changed || s.holds(a, at)
	}
	for _, nv := range st.Attributes {
		one(Action{Type: ActionAttribute, Op: OpSet, Name: nv.Name, Value: nv.Value}, stamp{nv.version, nv.origin})
	}
	for _, t := range st.tombs {
		one(Action{Type: ActionAttribute, Op: OpRemove, Name: t.name}, t.st)
	}
	// The principal, auth type, interval, notes and listeners by their stamps too.
	changed = s.mergeMeta(st, forgotten) || changed
	return out, changed
}
