package delta

import (
	"bytes"
	"slices"
	"unsafe"
)

// The session's methods below record, snapshot and apply actions; the caller holds s.mu.

// record adds a to the pending delta; an earlier action of the same type and name is
// replaced (dropped, the new one goes last).
func (s *Session) record(a Action) {
	for i := range s.pending {
		if s.pending[i].Type == a.Type && s.pending[i].Name == a.Name {
			s.pending = slices.Delete(s.pending, i, i+1)
			break
		}
	}
	s.pending = append(s.pending, a)
}

// restore puts actions that failed to replicate (in a delta stamped st) back in front of
// the pending ones, unless a newer action of the same type and name exists, or another
// node's change replaced the attribute since (unchanged). unsent says the delta never
// left this node: an action put back so and never sent before is marked unsent
// (unsent.go).
func (s *Session) restore(old []Action, st stamp, unsent bool) {
	var keep []Action
	for _, a := range old {
		newer := !s.unchanged(a, st)
		for _, p := range s.pending {
			if p.Type == a.Type && p.Name == a.Name {
				newer = true
				break
			}
		}
		if !newer {
			a.unsent = unsent && (!a.requeued || a.unsent) // once maybe sent, it stays so
			a.requeued = true
			keep = append(keep, a)
		}
	}
	s.pending = append(keep, s.pending...)
}

// detectMutations re-encodes attributes read since the last replication and records
// those whose encoding changed. It returns how many it recorded.
func (s *Session) detectMutations() int {
	n := 0
	for i := range s.attrs {
		e := &s.attrs[i]
		if !e.read {
			continue
		}
		e.read = false
		if !e.decoded {
			continue
		}
		data, err := s.m.cfg.Codec.Marshal(e.value)
		if err != nil || bytes.Equal(data, e.data) {
			continue
		}
		e.data = data
		s.record(Action{Type: ActionAttribute, Op: OpSet, Name: e.name, Value: data})
		n++
	}
	return n
}

// state returns the session in transferable form, its attributes and notes appended to
// *nv (see transferable). Values are shared, not copied: they are never modified once
// stored.
func (s *Session) state(nv *[]NamedValue) SessionState {
	st := SessionState{
		ID: s.id, CreationTime: s.created, LastAccessedTime: s.accessed, MaxInactive: s.maxInactive,
		IsNew: s.isNew, Version: s.version, Principal: s.principal, AuthType: s.authType,
		Listeners: slices.Clone(s.e().named),
	}
	if len(s.attrs) > 0 {
		at := len(*nv)
		for i := range s.attrs {
			e := &s.attrs[i]
			*nv = append(*nv, NamedValue{Name: e.name, Value: e.data, version: e.version, origin: e.origin})
		}
		st.Attributes = (*nv)[at:len(*nv):len(*nv)]
	}
	if notes := s.e().notes; len(notes) > 0 {
		at := len(*nv)
		for _, n := range notes {
			*nv = append(*nv, NamedValue{Name: n.name, Value: []byte(n.value)})
		}
		st.Notes = (*nv)[at:len(*nv):len(*nv)]
	}
	return st
}

// keepInChunk is the size from which a transferred attribute value stays where the codec
// decoded it, in the received chunk's buffer (which the channel hands over, see
// channel.Message, and nothing modifies), instead of being copied: copying would write
// each of those bytes a second time, and against values this large the chunk's other
// bytes (id, times, names: about 70 per session in BinaryCodec's format) weigh less
// than the rounding of a copy to its allocation size. Smaller values are copied, so
// that a chunk of small sessions is freed once applied; values the decoder allocated
// for the chunk alone (SessionState.owned, JavaCodec's) are kept at any size. A chunk's
// buffer lives as long as one of its sessions keeps its transferred value: at most the
// transfer's size.
const keepInChunk = 512

// load replaces the session's content with st (a transferred copy).
func (s *Session) load(st *SessionState) {
	s.created, s.accessed, s.maxInactive = st.CreationTime, st.LastAccessedTime, st.MaxInactive
	s.isNew, s.version, s.authType = st.IsNew, st.Version, st.AuthType
	s.loaded = st.Version
	if st.born > s.e().born {
		s.x().born = st.born
	}
	s.principal = st.Principal.clone()
	// Without stamps (a donor of an earlier version, Tomcat) the values are stamped zero:
	// older than any Go node's change. The decoder gave each session its own tombs.
	s.attrs, s.tombs, s.unstamped = s.attrs[:0], slices.Clip(st.tombs), !st.stamped
	for _, nv := range st.Attributes {
		data := slices.Clip(nv.Value)
		if len(data) < keepInChunk && !st.owned {
			data = bytes.Clone(data)
		}
		s.addAttr(attrEntry{name: nv.Name, data: data, version: nv.version, origin: nv.origin})
	}
	named := uniqueNames(st.Listeners)
	if s.ext != nil || len(st.Notes) > 0 || len(named) > 0 { // most sessions have neither: no ext
		x := s.x()
		x.notes = x.notes[:0]
		for _, nv := range st.Notes {
			x.notes = append(x.notes, noteEntry{nv.Name, valueString(nv.Value, st.owned)})
		}
		x.named = named
	}
	if st.meta != nil || s.ext != nil {
		s.x().meta = st.meta
	} // none from a donor not asked or of an earlier version: stamped zero, older than any Go node's change (stamp_meta.go)
	if len(st.left) > 0 { // the member's, beside this node's (AskLeft, rename.go)
		s.x().left = mergeLeft(s.e().left, membersLeft(st.left, st.leftAt))
	}
	s.primary = false
	s.valid = true
}

// apply executes actions received from another node, stamped st (zero: Tomcat's,
// applied in arrival order), and returns the listener calls to make. A change older than
// the attribute's (or other part's) stamp is skipped and counted (stamp.go,
// stamp_meta.go). Malformed
// meta values are skipped and counted. Values are copied unless owned: the decoder
// allocated them for this message alone (Message.ownValues), where several actions may
// share one.
func (s *Session) apply(actions []Action, st stamp, notify, owned bool) []notice {
	return s.applyActions(actions, st, notify, owned, false)
}

// applyActions is apply; with attrsOnly it skips, and counts, every action but the
// attribute changes (those of a delta a later one of its sender overtook, applyDelta).
func (s *Session) applyActions(actions []Action, st stamp, notify, owned, attrsOnly bool) []notice {
	var out []notice
	// Only the last principal action counts: the earlier ones are not decoded, which a
	// message naming one large principal many times would make cost its size each time.
	lastPrincipal := -1 // found at the first principal action
	// Attribute notices only matter to attribute listeners.
	notify = notify && len(s.m.cfg.AttributeListeners) > 0
	for i, a := range actions {
		if attrsOnly && a.Type != ActionAttribute {
			s.m.stats.olderChanges.Add(1)
			continue
		}
		if a.Type != ActionAttribute { // the other parts follow the stamps too (stamp_meta.go)
			if st.version == 0 {
				s.setMetaStamp(a.Type, a.Name, stamp{}) // Tomcat's: in arrival order
			} else if !s.metaApplies(a, st) {
				continue
			}
		}
		if a.Type == ActionAttribute && st.version > 0 {
			if s.changedHere(a.Name) {
				// This node's change, not sent yet, is the later one. Its entry takes the
				// skipped change's stamp if newer, so that a failed delta of this node does
				// not give back a version that change took (appliedFromOthers).
				s.raiseStamp(a.Name, st)
				s.m.stats.olderChanges.Add(1)
				continue
			}
			if mine := s.stampOf(a.Name); !st.notBefore(mine) && !s.yieldsTo(a.Type, a.Name, mine, st) {
				// The value here is newer: this node's (sent with a higher stamp) or
				// another node's that won; but a change of this node refused before
				// any send gives way to one of its version (unsent.go).
				s.m.stats.olderChanges.Add(1)
				continue
			}
		}
		if len(s.pending) > 0 {
			// The remote change replaces this node's value, so a pending local change of
			// the same thing is stale: sending it later would revert the other nodes to
			// it (a change kept after a failed replication, or a concurrent request
			// here) while this node keeps the remote value.
			s.pending = slices.DeleteFunc(s.pending, func(p Action) bool { return p.Type == a.Type && p.Name == a.Name })
		}
		switch a.Type {
		case ActionAttribute:
			i := s.find(a.Name)
			if a.Op == OpRemove {
				if i < 0 {
					if st.version > 0 { // removed here too, or never set: an older set must not bring it
						s.bury(a.Name, st)
					}
					continue
				}
				var old any
				if notify {
					old, _ = s.decodeForNotice(&s.attrs[i])
				}
				if st.version > 0 {
					s.bury(a.Name, st)
				}
				s.attrs = slices.Delete(s.attrs, i, i+1)
				if notify {
					out = append(out, notice{kind: nRemoved, name: a.Name, value: old})
				}
				continue
			}
			data := a.Value
			if !owned {
				data = bytes.Clone(data)
			}
			e := attrEntry{name: a.Name, data: data, version: st.version, origin: st.origin}
			if i >= 0 {
				var old any
				if notify {
					old, _ = s.decodeForNotice(&s.attrs[i])
				}
				s.attrs[i] = e
				if notify {
					out = append(out, notice{kind: nReplaced, name: a.Name, value: old})
				}
			} else {
				s.unbury(a.Name)
				s.addAttr(e)
				if notify {
					v, err := s.decode(&s.attrs[len(s.attrs)-1])
					if err != nil {
						s.m.stats.valueDecodeErrors.Add(1)
					}
					out = append(out, notice{kind: nAdded, name: a.Name, value: v})
				}
			}
		case ActionPrincipal:
			if lastPrincipal < 0 {
				lastPrincipal = lastOfType(actions, ActionPrincipal)
			}
			if i < lastPrincipal {
				break // overwritten by a later one
			}
			if a.Op == OpRemove {
				s.principal = nil
			} else if p, err := decodePrincipal(a.Value, s.m.cl.principalLimits()); err == nil {
				s.principal = p
			} else {
				s.m.stats.badActions.Add(1)
			}
		case ActionIsNew:
			if v, err := decodeBool(a.Value); err == nil && a.Op == OpSet {
				s.isNew = v
			} else if a.Op == OpSet {
				s.m.stats.badActions.Add(1)
			}
		case ActionMaxInterval:
			if v, err := decodeInterval(a.Value); err == nil && a.Op == OpSet {
				s.maxInactive = v
			} else if a.Op == OpSet {
				s.m.stats.badActions.Add(1)
			}
		case ActionAuthType:
			if a.Op == OpRemove {
				s.authType = ""
			} else {
				s.authType = valueString(a.Value, owned)
			}
		case ActionListener:
			i := slices.Index(s.e().named, a.Name)
			if a.Op == OpSet && i < 0 {
				s.x().named = append(s.x().named, a.Name)
			} else if a.Op == OpRemove && i >= 0 {
				s.x().named = slices.Delete(s.x().named, i, i+1)
			}
		case ActionNote:
			if a.Op == OpRemove {
				s.removeNote(a.Name)
			} else {
				s.setNote(a.Name, valueString(a.Value, owned))
			}
		}
	}
	s.trimMeta()
	return out
}

// valueString returns a note's or auth type's value as a string: without a copy when
// the decoder allocated it for its message alone (owned: Message.ownValues,
// SessionState.owned), which several actions or sessions may share and nothing
// modifies, so that a message naming one large String at many places costs its size
// once, not at each.
func valueString(b []byte, owned bool) string {
	if owned {
		return unsafe.String(unsafe.SliceData(b), len(b))
	}
	return string(b)
}

// lastOfType returns the index of the last action of type t, -1 for none.
func lastOfType(actions []Action, t ActionType) int {
	for i := len(actions) - 1; i >= 0; i-- {
		if actions[i].Type == t {
			return i
		}
	}
	return -1
}

// uniqueNames returns a copy of names without their repetitions, in the order of their
// first occurrence, in time linear in their number: a copy from Tomcat can list its
// sign-on listener twice (Tomcat adds listeners without looking for an equal one), and
// every event would reach it twice (TestLoadListsAListenerOnce).
func uniqueNames(names []string) []string {
	if len(names) == 0 {
		return nil
	}
	seen := make(map[string]bool, len(names))
	out := make([]string, 0, len(names))
	for _, n := range names {
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out
}
