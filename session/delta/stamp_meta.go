package delta

import (
	"math"
	"slices"
)

// The parts of a session that are not attributes (principal, auth type, max inactive
// interval, the isnew flag, each note and each named listener) follow the stamps as
// attributes do: each remembers the stamp of the Go node's change that set it last,
// and a change of another node applies only if its stamp is not older, or is skipped
// while this node has a change of it not sent yet (in the session's pending actions, but
// for one put back after its delta failed, which keeps that delta's stamp), which will be
// stamped above it. Concurrent requests on two nodes then end with the
// same principal everywhere, the winning delta's. A state transfer or a refresh between
// Go nodes carries these stamps (AskMetaStamps, TestTransferredMetaKeepsItsStamps); from
// a donor that sends none a transferred copy's parts count as stamped zero, older than
// any Go node's change. Tomcat's deltas (version 0) apply in arrival order and leave
// them at zero.

// metaStamp is the stamp of the change that set the part of type typ named name.
type metaStamp struct {
	typ  ActionType
	name string
	st   stamp
}

// ---- the caller holds s.mu ----

// metaStampOf returns the stamp of the part typ, name; zero when none is known.
func (s *Session) metaStampOf(typ ActionType, name string) stamp {
	for _, m := range s.e().meta {
		if m.typ == typ && m.name == name {
			return m.st
		}
	}
	return stamp{}
}

// setMetaStamp records st as the stamp of the part typ, name (zero forgets it).
func (s *Session) setMetaStamp(typ ActionType, name string, st stamp) {
	i := slices.IndexFunc(s.e().meta, func(m metaStamp) bool { return m.typ == typ && m.name == name })
	switch {
	case i >= 0 && st == stamp{}:
		s.x().meta = slices.Delete(s.x().meta, i, i+1)
	case i >= 0:
		s.x().meta[i].st = st
	case st != stamp{}:
		s.x().meta = append(s.x().meta, metaStamp{typ: typ, name: name, st: st})
	}
}

// metaChangedHere reports whether this node changed the part typ, name since its last
// delta was taken: a change of it is pending, made by a request, not put back after its
// delta failed (requeued). A failed change goes by its stamp (the failed delta's), as an
// attribute's does: a later change of another node replaces it
// (TestLaterLoginWinsOverAFailedOne).
func (s *Session) metaChangedHere(typ ActionType, name string) bool {
	return slices.ContainsFunc(s.pending, func(p Action) bool { return p.Type == typ && p.Name == name && !p.requeued })
}

// metaPending reports whether a change of the part typ, name is pending: made here, or
// put back after its delta failed.
func (s *Session) metaPending(typ ActionType, name string) bool {
	return slices.ContainsFunc(s.pending, func(p Action) bool { return p.Type == typ && p.Name == name })
}

// metaApplies reports whether a, an action of another node's delta stamped st (not
// zero) that is not an attribute change, is to apply; if so its stamp is recorded. One
// that is not is counted as older (Stats.OlderChangesSkipped).
func (s *Session) metaApplies(a Action, st stamp) bool {
	cur := s.metaStampOf(a.Type, a.Name)
	if s.metaChangedHere(a.Type, a.Name) {
		// This node's change is the later one. The part takes the skipped change's
		// stamp if newer, so that a failed delta of this node does not give back a
		// version that change took (appliedFromOthers).
		if st.notBefore(cur) {
			s.setMetaStamp(a.Type, a.Name, st)
		}
		s.m.stats.olderChanges.Add(1)
		return false
	}
	if !st.notBefore(cur) && !s.yieldsTo(a.Type, a.Name, cur, st) {
		s.m.stats.olderChanges.Add(1)
		return false
	}
	s.setMetaStamp(a.Type, a.Name, st)
	return true
}

// The stamp of a note or named listener that was removed stays as its tombstone, so
// that an older change setting it does not bring it back. Such stamps are bounded as
// the attributes' tombstones are: past maxTombs, the oldest of them not changed here
// since is forgotten, its version kept in forgot (trimMeta,
// TestMetaStampsOfRemovedPartsBounded); an older change setting that part then applies,
// as in arrival order.

// trimMeta forgets the oldest stamps of removed notes and listeners past maxTombs.
func (s *Session) trimMeta() {
	for len(s.e().meta) > maxTombs {
		meta := s.x().meta
		gone, oldest := 0, -1
		for i, m := range meta {
			if !s.metaPartGone(m) {
				continue
			}
			gone++
			if s.metaPending(m.typ, m.name) {
				continue
			}
			if oldest < 0 || m.st.version < meta[oldest].st.version {
				oldest = i
			}
		}
		if gone <= maxTombs || oldest < 0 {
			return
		}
		s.forgot = max(s.forgot, uint32(min(meta[oldest].st.version, math.MaxUint32)))
		s.x().meta = slices.Delete(meta, oldest, oldest+1)
	}
}

// metaPartGone reports whether m is the stamp of a note or a named listener the session
// no longer has.
func (s *Session) metaPartGone(m metaStamp) bool {
	switch m.typ {
	case ActionNote:
		return !slices.ContainsFunc(s.e().notes, func(n noteEntry) bool { return n.name == m.name })
	case ActionListener:
		return !slices.Contains(s.e().named, m.name)
	}
	return false
}

// stateMetaAction returns the action that makes the part m stamps what st, a member's
// copy, holds (a refresh's merge, mergeStamped); ok is false for a part it cannot
// encode.
func stateMetaAction(st *SessionState, m metaStamp) (a Action, ok bool) {
	a = Action{Type: m.typ, Op: OpSet, Name: m.name}
	switch m.typ {
	case ActionPrincipal:
		if st.Principal == nil {
			a.Op = OpRemove
			break
		}
		v, err := EncodePrincipal(st.Principal)
		if err != nil {
			return Action{}, false
		}
		a.Value = v
	case ActionAuthType:
		if st.AuthType == "" {
			a.Op = OpRemove
		} else {
			a.Value = []byte(st.AuthType)
		}
	case ActionMaxInterval:
		a.Value = encodeInterval(st.MaxInactive)
	case ActionIsNew:
		a.Value = encodeBool(st.IsNew)
	case ActionNote:
		i := slices.IndexFunc(st.Notes, func(n NamedValue) bool { return n.Name == m.name })
		if i < 0 {
			a.Op = OpRemove
		} else {
			a.Value = st.Notes[i].Value
		}
	case ActionListener:
		if slices.Contains(st.Listeners, m.name) {
			a.Value = []byte{}
		} else {
			a.Op = OpRemove
		}
	default:
		return Action{}, false
	}
	return a, true
}

// mergeMeta applies the parts of st, a member's copy not newer by version, whose stamps
// win over this copy's (mergeStamped), but not those changed here and not sent yet
// (metaChangedHere); a change of this node that failed goes by its stamp, or gives way
// to one of its version if refused before any send (unsent.go), and the pending action
// of one replaced is dropped, as an attribute's
// (TestRefreshMergeDropsFailedMetaChangesTheMemberReplaced). It reports whether any
// applied. forgotten is the highest version of a removal this copy forgot: a note or
// listener absent here and set no later stays absent, as it may be one of those removed.
func (s *Session) mergeMeta(st *SessionState, forgotten uint64) bool {
	changed := false
	for _, m := range st.meta {
		cur := s.metaStampOf(m.typ, m.name)
		if m.st.version == 0 || cur == m.st || !m.st.notBefore(cur) && !s.yieldsTo(m.typ, m.name, cur, m.st) ||
			s.metaChangedHere(m.typ, m.name) {
			continue
		}
		a, ok := stateMetaAction(st, m)
		if !ok || a.Op == OpSet && (m.typ == ActionNote || m.typ == ActionListener) &&
			m.st.version <= forgotten && cur == (stamp{}) {
			continue
		}
		s.apply([]Action{a}, m.st, false, false)
		changed = changed || s.metaStampOf(m.typ, m.name) == m.st
	}
	return changed
}
