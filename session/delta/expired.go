package delta

import (
	"context"
	"slices"
)

// An asynchronous send returns once written, and a node's next message can travel on
// another connection of its transport's pool (transport/nio keeps several per member)
// while the receiver serves connections concurrently: two messages of one session can
// be applied in the other order. A session's EVT_SESSION_EXPIRED (a logout) overtaking
// its first delta, or its EVT_SESSION_CREATED, would then make the copy again from it on
// that member: a logged-out session alive there. So every manager remembers the ids of
// the sessions the cluster told it were removed lately (its record of removals, removals.go), with the
// session's version then (the expiry's Message.Version: its sender's version for the
// removal, above every change it held; and the copy's own), and neither an
// EVT_SESSION_CREATED nor a delta that is not newer than that makes the copy again
// (TestExpiryOvertakingFirstDelta). A session made again under the same id
// (CreateWithID) after its removal here starts above the removal's version, so that the
// members take its creation and its first delta. Messages in Tomcat's format carry no
// version: a removal without one keeps every delta from making the copy again (Tomcat
// makes none from a delta at all), and a creation after it applies, as in Tomcat. An id change whose new id names a session removed lately removes the
// copy instead of renaming it (TestExpiryOvertakingRename).
//
// A session made again under a removed id tells the members so: its EVT_SESSION_CREATED
// carries the removal's version (Session.born), the earlier session's EVT_SESSION_EXPIRED
// carries that version at most, and the new session's deltas carry higher ones. A late
// expiry of the earlier session then spares the new one (TestLateExpiryOfOldSession),
// and a creation that finds the earlier session's copy still held (its expiry not arrived
// yet, the new session's deltas not applied yet) removes that copy first: the new
// session's first delta would otherwise apply over the earlier one's attributes. One
// that finds the new session's first delta applied over that copy (it overtook the
// creation) takes out what no change of the new session set (shedEarlier,
// TestOvertakingFirstDeltaDoesNotInheritTheEarlierSession).
// A copy that a state transfer, a refresh, a joiner's catch-up or a repair loaded learns it from the
// removal's record this node keeps or that came with it, when the copy is newer
// (TestJoinerSparesSessionMadeAgain, TestJoinerCatchUpSparesSessionMadeAgain,
// TestRepairedCopyOfSessionMadeAgainOutlivesTheEarlierExpiry).
//
// A copy also remembers the stamp of the last delta it applied whole (Session.lastVersion,
// lastOrigin), and a delta of the same sender with a lower version, overtaken by that
// one, applies its attribute changes only (TestOvertakenDeltaKeepsLaterMeta). The other
// parts of deltas of different senders follow their stamps (stamp_meta.go).

// noteExpired records that the session id was removed at version (0: not known), in the
// manager's record of removals (removals.go).
func (m *Manager) noteExpired(id string, version uint64) {
	m.gone.note(id, version, keepRemoval(0), false, nil)
}

// expiredAt returns the version at which the session id was removed lately, if it was.
func (m *Manager) expiredAt(id string) (version uint64, ok bool) {
	return m.gone.removedAt(id)
}

// removedBefore reports whether msg, an EVT_SESSION_CREATED or a delta that would make
// a copy of a session this node does not hold, is about a session removed since: its
// id's removal is remembered and the message is not newer than it. A creation carries
// the version its session starts from, the removal's for a session made again under
// the id, and 0 otherwise; a delta is newer when its version is above the removal's. A
// removal without a version (Tomcat's format) keeps every delta from making the copy
// (Tomcat makes none from a delta) but not a creation (Tomcat's arrival order).
func (m *Manager) removedBefore(msg *Message) bool {
	v, ok := m.expiredAt(msg.SessionID)
	switch {
	case !ok:
		return false
	case msg.Event == EventCreated:
		return v > 0 && msg.Version < v
	}
	return v == 0 || msg.Version <= v
}

// stateRemoved reports whether st, a session of a repair's answer, is not newer than its
// removal remembered lately: the member took its answer before the expiry reached it,
// while the expiry reached this node before the repair asked
// (TestRepairAfterExpiryDoesNotBringBackTheSession); a session made again at or above
// the removal (its copy born there, AskBorn) is not the removed one
// (TestRepairTakesSessionMadeAgainAtTheRemoval). A removal without a version (Tomcat's
// format) keeps every copy out, as it keeps every delta.
func (m *Manager) stateRemoved(st *SessionState) bool {
	v, ok := m.expiredAt(st.ID)
	return ok && (v == 0 || (st.Version <= v && st.born < v))
}

// madeAfterRemoval removes s, a copy msg (a creation or a first delta) just made, if its
// session's removal arrived meanwhile (on another connection: the removal's lookup did
// not find the copy yet, and removedBefore passed before the record), and reports
// whether it did.
func (m *Manager) madeAfterRemoval(ctx context.Context, msg *Message, s *Session) bool {
	if !m.removedBefore(msg) {
		return false
	}
	_ = m.expire(ctx, s, false, causeInvalidated, true)
	m.stats.unknownID.Add(1)
	return true
}

// renamedAfterRemoval removes s, the copy msg (an id change) renames or renamed, if a
// session under the new id was removed lately: the removal overtook the rename
// (TestExpiryOvertakingRename). It reports whether it did.
func (m *Manager) renamedAfterRemoval(ctx context.Context, msg *Message, s *Session) bool {
	if _, gone := m.expiredAt(msg.NewID); !gone {
		return false
	}
	top := s.highestVersion()
	_ = m.expire(ctx, s, false, causeInvalidated, true)
	m.noteExpired(msg.SessionID, top)
	return true
}

// replaceEarlierSession removes this node's copy of an earlier session under the id of
// msg, an EVT_SESSION_CREATED of a session made again above a removal at msg.Version,
// whose own expiry has not arrived yet: the copy is no newer than that removal, and was
// not made again itself. The removal is remembered, as the expiry would have.
func (m *Manager) replaceEarlierSession(ctx context.Context, msg *Message) {
	old := m.st.get(msg.SessionID)
	if old == nil {
		return
	}
	old.mu.Lock()
	earlier := old.e().born < msg.Version && old.topVersion() <= msg.Version
	old.mu.Unlock()
	if !earlier {
		return
	}
	m.noteExpired(msg.SessionID, msg.Version)
	_ = m.expire(ctx, old, false, causeInvalidated, true)
}

// madeAgainAbove records that s was made again above a removal of its id at version:
// a creation said so, or s is newer than a removal's record (mergeRemoval, a state
// transfer's loadSessions).
func (s *Session) madeAgainAbove(version uint64) {
	s.mu.Lock()
	if version > s.e().born {
		s.x().born = version
	}
	s.mu.Unlock()
}

// shedEarlier records that s was made again above a removal of its id at version, as
// madeAgainAbove does; a copy that did not know it yet may hold parts of the earlier
// session, which a delta of the new one (above version) applied over: those no change
// above version set (attributes, removals, principal, auth type, max inactive interval,
// the isnew flag, notes, listeners) go back to a new copy's. A copy loaded from a
// transferred copy newer than the removal keeps its parts: they carry no stamps, and are
// the new session's (TestLateCreationKeepsARepairedCopy). It returns the attribute
// removals to notify.
func (s *Session) shedEarlier(version uint64) []notice {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.e().born >= version {
		return nil
	}
	s.x().born = version
	if s.primary || !s.valid || s.expiring || s.loaded > version {
		return nil // loaded from a copy of the new session: its parts carry no stamps
	}
	// earlier: no change above version set the part (of type typ, and name unless "")
	earlier := func(typ ActionType, name string) bool {
		return !slices.ContainsFunc(s.e().meta, func(m metaStamp) bool {
			return m.typ == typ && (name == "" || m.name == name) && m.st.version > version
		})
	}
	var out []notice
	notify := len(s.m.cfg.AttributeListeners) > 0
	s.attrs = slices.DeleteFunc(s.attrs, func(e attrEntry) bool {
		if e.version > version {
			return false
		}
		if notify {
			v, _ := s.decode(&e)
			out = append(out, notice{kind: nRemoved, name: e.name, value: v})
		}
		return true
	})
	s.tombs = slices.DeleteFunc(s.tombs, func(t tomb) bool { return t.st.version <= version })
	if earlier(ActionPrincipal, "") {
		s.principal = nil
	}
	if earlier(ActionAuthType, "") {
		s.authType = ""
	}
	if earlier(ActionMaxInterval, "") {
		s.maxInactive = s.m.defaultMaxInactive()
	}
	if earlier(ActionIsNew, "") {
		s.isNew = true
	}
	if x := s.ext; x != nil {
		x.notes = slices.DeleteFunc(x.notes, func(n noteEntry) bool { return earlier(ActionNote, n.name) })
		x.named = slices.DeleteFunc(x.named, func(n string) bool { return earlier(ActionListener, n) })
		x.meta = slices.DeleteFunc(x.meta, func(m metaStamp) bool { return m.st.version <= version })
	}
	return out
}

// loadedAboveRemoval records that s, just loaded from st (a state transfer's, a
// refresh's or a repair's copy), was made again above a removal of its id this node
// keeps the record of (its own, or one the donor sent: mergeRemoval) when st is newer.
func (m *Manager) loadedAboveRemoval(s *Session, st *SessionState) {
	if v, ok := m.gone.removedAt(st.ID); ok && v > 0 && v < st.Version {
		s.madeAgainAbove(v)
	}
}

// madeAgainSince reports whether s is known to have been made again above a removal
// of its id at version: a removal record up to it is an earlier session's.
func (s *Session) madeAgainSince(version uint64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return version > 0 && version <= s.e().born
}

// expiresEarlier reports whether msg, an EVT_SESSION_EXPIRED naming s, is the expiry of
// an earlier session under s's id: s was made again above a removal at a version msg's
// does not pass.
func (m *Manager) expiresEarlier(msg *Message, s *Session) bool {
	if msg.Version == 0 {
		return false // Tomcat's format: no version to tell
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return msg.Version <= s.e().born
}
