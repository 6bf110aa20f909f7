package delta

import "slices"

// A refresh (refresh.go) replaces a copy with a member's of a higher version: the
// quorum's copy, holding every change the majority acknowledged while this node was
// without it. This node's own changes not sent yet stay on the copy and in its pending
// actions, so that its next delta sends them (stamped above every change the copy then
// holds, they win everywhere):
//
//   - an attribute changed here by a request not replicated yet (marked: changedHere),
//     and every other part changed here so (a pending action not requeued), whatever the
//     member's copy holds, as a delta of another node arriving meanwhile would be skipped;
//   - an attribute or other part whose change failed to replicate (put back by requeue,
//     stamped with the failed delta's version and this node's origin; for the other
//     parts, a pending action marked requeued), unless the member's copy holds another
//     change of it that replaces it, as when such a change arrives in a delta (the
//     pending action is dropped; unsent.go): if the failed delta never left this node,
//     any change at its version or later, such as the majority's made without this
//     node's, acknowledged where this node's was refused
//     (TestRefreshMajorityLoginWinsOverARefusedOne); if it may have reached some
//     member, only a change later by its stamp, as on those members
//     (TestFailedDeltaThatReachedAMemberConvergesAfterARefresh).
//   - an attribute whose change this node sent (taken: stamped with this node's origin,
//     neither pending nor marked) that the member's copy holds older: the member lacks
//     it. Its delta may still be on its way, or it was lost without an error (an
//     asynchronous send to a member that crashed with it unread, or dropped it), which
//     the stamps do not tell apart. So the change is pending again, unmarked under its
//     stamp, as a failed one that requeue gave back (a later change of another node
//     still replaces it and drops the action), and the session is sent again
//     (resendKept) without waiting for its next request: else, its delta lost, this
//     node would hold its value and the members theirs until the attribute's next
//     change. A delta still on its way that arrives too is harmless (the change sent
//     again is stamped above it); one that fails gives nothing back twice (restore skips
//     what is pending).
//
// A repair's load over a copy held under another route (loadTransferred), and a late
// catch-up's load of a newer copy over one that cannot be merged by the stamps
// (loadIfUnstamped), keep them the same way.

// unsentAttr is this node's attribute entry or removal kept across a refresh's load.
type unsentAttr struct {
	name  string
	entry *attrEntry // set, or nil: removed (tomb, if one was held)
	tomb  *tomb
	sent  bool // sent already, and lacking in the member's copy: to send again
}

// loadKeepingUnsent loads st over the copy (a refresh's member copy of a higher version,
// or a transferred one) and puts back this node's changes not sent yet (above). The
// caller holds s.mu.
func (s *Session) loadKeepingUnsent(st *SessionState) {
	keep, drop := s.unsentAgainst(st)
	var meta []Action  // the other parts' pending actions to keep (not overridden by st)
	var stamps []stamp // their stamps here
	for _, a := range s.pending {
		if a.Type != ActionAttribute && !(a.requeued && s.metaOverridden(a, st)) {
			meta = append(meta, a)
			stamps = append(stamps, s.metaStampOf(a.Type, a.Name))
		}
	}
	s.load(st)
	s.pending = slices.DeleteFunc(s.pending, func(a Action) bool {
		if a.Type == ActionAttribute {
			return slices.Contains(drop, a.Name)
		}
		return !slices.ContainsFunc(meta, func(k Action) bool { return k.Type == a.Type && k.Name == a.Name })
	})
	resend := false
	for _, u := range keep {
		if i := s.find(u.name); i >= 0 {
			s.attrs = slices.Delete(s.attrs, i, i+1)
		}
		s.unbury(u.name)
		switch {
		case u.entry != nil:
			s.addAttr(*u.entry)
			if u.sent {
				s.record(Action{Type: ActionAttribute, Op: OpSet, Name: u.name, Value: u.entry.data})
			}
		case u.tomb != nil:
			s.addTomb(*u.tomb)
			if u.sent {
				s.record(Action{Type: ActionAttribute, Op: OpRemove, Name: u.name})
			}
		}
		resend = resend || u.sent
	}
	if resend {
		s.m.noteKept(s)
	}
	// The other parts: this node's values again, under the later of their stamps here and
	// the loaded copy's (the next delta stamps them anew), as an attribute's entry: a
	// member's copy merged next that holds this node's failed change, sent to it, does
	// not take it for another node's and drop the pending action
	// (TestFailedDeltaThatReachedAMemberConvergesAfterARefresh). With the pending actions
	// set aside, apply does not take them for another node's and skip them.
	pending := s.pending
	s.pending = nil
	for i, a := range meta {
		at := s.metaStampOf(a.Type, a.Name)
		if stamps[i].notBefore(at) {
			at = stamps[i]
		}
		s.apply([]Action{a}, at, false, false)
	}
	s.pending = pending
	s.trimTombs()
}

// unsentAgainst returns this node's attribute changes not sent yet to keep over st, and
// the names of those st's stamps override. The caller holds s.mu.
func (s *Session) unsentAgainst(st *SessionState) (keep []unsentAttr, drop []string) {
	var names []string
	for _, a := range s.pending {
		if a.Type == ActionAttribute && !slices.Contains(names, a.Name) {
			names = append(names, a.Name)
		}
	}
	for i := range s.attrs {
		if s.attrs[i].here && !slices.Contains(names, s.attrs[i].name) {
			names = append(names, s.attrs[i].name)
		}
	}
	for _, t := range s.tombs {
		if t.here && !slices.Contains(names, t.name) {
			names = append(names, t.name)
		}
	}
	// This node's changes sent but st lacks (a delta on its way, or lost): only those st
	// holds older allocate.
	unsent := len(names)
	self := s.m.cl.origin()
	for i := range s.attrs {
		if e := &s.attrs[i]; e.origin == self && e.version > 0 && !slices.Contains(names, e.name) &&
			!stateStampOf(st, e.name).notBefore(e.stamp()) {
			names = append(names, e.name)
		}
	}
	for _, t := range s.tombs {
		if t.st.origin == self && t.st.version > 0 && !slices.Contains(names, t.name) &&
			!stateStampOf(st, t.name).notBefore(t.st) {
			names = append(names, t.name)
		}
	}
	for k, name := range names {
		u := unsentAttr{name: name, sent: k >= unsent}
		var here bool
		var mine stamp
		if i := s.find(name); i >= 0 {
			e := s.attrs[i]
			u.entry, here, mine = &e, e.here, e.stamp()
		} else if j := slices.IndexFunc(s.tombs, func(t tomb) bool { return t.name == name }); j >= 0 {
			t := s.tombs[j]
			u.tomb, here, mine = &t, t.here, t.st
		}
		theirs := stateStampOf(st, name)
		if !here && theirs != mine && (theirs.notBefore(mine) || s.yieldsTo(ActionAttribute, name, mine, theirs)) {
			drop = append(drop, name)
			continue
		}
		if theirs.notBefore(mine) { // a marked change: its entry takes the later stamp
			if u.entry != nil {
				u.entry.setStamp(theirs)
			} else if u.tomb != nil {
				u.tomb.st = theirs
			}
		}
		keep = append(keep, u)
	}
	return keep, drop
}

// metaOverridden reports whether st, a member's copy, holds a change of the part a
// changes (a's type and name, not an attribute) that replaces this node's failed change
// a: one later by its stamp, or, a refused before any send (unsent), one at its version
// or later that was not refused too (unsent.go). A requeued a is then dropped. The
// caller holds s.mu.
func (s *Session) metaOverridden(a Action, st *SessionState) bool {
	mine := s.metaStampOf(a.Type, a.Name) // the failed delta's (restore keeps no other)
	var theirs stamp
	if i := slices.IndexFunc(st.meta, func(m metaStamp) bool { return m.typ == a.Type && m.name == a.Name }); i >= 0 {
		theirs = st.meta[i].st
	}
	return theirs != mine && (theirs.notBefore(mine) ||
		a.unsent && theirs.version >= mine.version && !shippedUnsent(theirs, mine))
}

// stateStampOf returns the stamp st, a member's copy, gives attribute name: its value's,
// or its removal's, or zero.
func stateStampOf(st *SessionState, name string) stamp {
	for _, nv := range st.Attributes {
		if nv.Name == name {
			return stamp{nv.version, nv.origin}
		}
	}
	for _, t := range st.tombs {
		if t.name == name {
			return t.st
		}
	}
	return stamp{}
}
