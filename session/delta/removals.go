package delta

import (
	"context"
	"slices"
	"sync"
	"time"
	"weak"

	"github.com/gotribes/tribes/internal/sessionhttp"
)

// A manager keeps one record of the ids that stopped naming a session lately
// (removals): sessions removed by the cluster (invalidated here or elsewhere, expired
// by their primary: an EVT_SESSION_EXPIRED sent or received), and the old ids of renamed
// sessions. It is always on, and three things read it:
//
//   - message application (expired.go, renamed.go): an asynchronous message that a
//     removal overtook does not make the session again, a session made again under a
//     removed id starts above the removal's version, and a delta, access or expiry
//     naming an old id applies to the session it became;
//   - the quorum refresh (refresh.go): a refresh only adds and replaces copies, so a
//     session the majority removed while this node was cut off would stay here (a user
//     who logged out on the other side logged in again here). A member asked for every
//     session by a refresh sends its records after its sessions, as entries with
//     SessionState.Removed (and Renamed for an old id), and the refreshing node removes
//     its copies unless they are newer than the removal (mergeRemoval), and takes no copy
//     a record covers, a member's or its own, from a member that missed the removal;
//   - the state transfer (donor.go, transfer.go): a joiner asks for the records as a
//     refresh does (AskRemovals, BinaryCodec only) and keeps them, so that a late message
//     does not make a removed session on it, and a session it makes again under a removed
//     id starts above the removal.
//
// A removed session goes under every route of its id: this node may hold it under one
// the others never knew (its binder renamed it while cut off, and the rename was
// refused). An old id goes only under itself: the session lives on under its new id. A
// copy this node times out on its own leaves no record: the others time theirs out too.
//
// A record is kept for twice the removed session's max inactive interval (an hour for
// one that never expires or that this node does not hold, a minute at least); a removed
// session's is noted for an hour first (noteExpired), so it is kept an hour at least, an
// old id's twice the interval (TestRemovalRecordKeptAsDocumented): a copy
// that nobody uses times out by then anyway, and a message overtaken for longer is not
// waited for. At most maxRemovals are kept, the oldest forgotten first (a cluster that
// removes more sessions than that within the time forgets the oldest early). A record
// holds its id (at most 256 bytes; twice for an old id: its key) and about 150 bytes more
// (map entry, order entry, weak pointer): at most 100 MiB for maxRemovals records of the
// longest ids, 40 MiB with Create's (TestRemovalsMemoryBound measures 89 and 27).

// maxRemovals bounds the records a manager keeps.
const maxRemovals = 1 << 17

// removals is a manager's record of removed and renamed ids. A removed session's record
// is keyed by its id without the route, an old id's by the id itself after a byte no id
// holds.
type removals struct {
	mu    sync.Mutex
	byID  map[string]removal
	order []removedID // in the order noted; a key noted again is in it twice
	head  int         // order[:head] are forgotten
}

type removal struct {
	id      string // the id as noted
	version uint64 // the session's version when it was removed: copies up to it go
	until   int64  // unix nanoseconds
	noted   int64  // unix milliseconds: when last noted (a catch-up asks for those since)
	renamed bool   // an old id, not a removed session
	// to is the session an old id became, when this node held it (renamed.go); weak, so
	// that a record does not keep a session's memory once it is gone.
	to weak.Pointer[Session]
	// back: an old id that a session was renamed back to here since (renamedBack), so
	// that it names that session again. A binder's renames go from route to route without
	// a change between them, so a session can be renamed away from an id and back at one
	// version; the record of the rename away would then cover the live copy under the id
	// (a refresh or a catch-up took no member's copy of it and removed this node's on a
	// member's record: TestRenamedBackKeptByRefresh). Such a record covers no copy, is not
	// passed on, and a member's record of the id up to its version is of that same rename
	// away (mergeRemoval); a later note (a rename away again) clears it. A node that
	// missed the rename back still holds the record as an old id's, at its version: so
	// the node renaming the session back raises the session's version above the record's
	// and its rename carries the new version (BinaryCodec; rename.go, renameReplica), and
	// the copies renamed back are newer than every record of the rename away
	// (TestRenameBackMissedKeptByRefresh); with BinaryCodec a binder's rename back to an
	// id the session had here raises it also when this node forgot the record (noteLeft,
	// TestRenameBackMissedForgottenByTheRenamer).
	back bool
}

type removedID struct {
	key   string
	until int64
}

// removalKey is the key of id's record.
func removalKey(id string, renamed bool) string {
	if renamed {
		return "\x00" + id
	}
	return sessionhttp.WithRoute(id, "")
}

func newRemovals() *removals { return &removals{byID: map[string]removal{}} }

// keepRemoval is how long the removal of a session with max inactive interval sec (in
// seconds) is remembered.
func keepRemoval(sec int32) time.Duration {
	if sec <= 0 {
		return time.Hour
	}
	return max(2*time.Duration(sec)*time.Second, time.Minute)
}

// note records that id named a session up to version and no longer does (renamed: it
// was renamed, to the session to if not nil), for keep.
func (r *removals) note(id string, version uint64, keep time.Duration, renamed bool, to *Session) {
	if id == "" {
		return
	}
	now := time.Now().UnixNano()
	until := now + int64(keep)
	key := removalKey(id, renamed)
	r.mu.Lock()
	defer r.mu.Unlock()
	e := removal{id: id, version: version, until: until, noted: now / int64(time.Millisecond), renamed: renamed}
	if to != nil {
		e.to = weak.Make(to)
	}
	if old, ok := r.byID[key]; ok {
		e.version = max(version, old.version)
		e.until = max(until, old.until)
		if to == nil {
			e.to = old.to
		}
	}
	until = e.until
	r.byID[key] = e
	r.order = append(r.order, removedID{key: key, until: until})
	for r.head < len(r.order) {
		e := r.order[r.head]
		current := r.current(e)
		if current && e.until > now && len(r.byID) <= maxRemovals {
			break
		}
		if current {
			delete(r.byID, e.key)
		}
		r.order[r.head] = removedID{}
		r.head++
	}
	if len(r.order)-r.head > 2*maxRemovals { // ids noted again and again: drop their older entries
		kept := r.order[:0]
		for _, e := range r.order[r.head:] {
			if r.current(e) {
				kept = append(kept, e)
			}
		}
		clear(r.order[len(kept):])
		r.order, r.head = kept, 0
	} else if r.head > 1024 && r.head > len(r.order)/2 { // reclaim the forgotten front
		n := copy(r.order, r.order[r.head:])
		clear(r.order[n:])
		r.order, r.head = r.order[:n], 0
	}
}

// renamedBack marks the record of id as an old id, if one is kept, as renamed back: a
// session was renamed to id here (see removal.back). It returns the record's version and
// whether one is held, in force or not forgotten yet: a member may keep its record of the
// rename away longer than this node (one merged from a member's is kept an hour).
func (r *removals) renamedBack(id string) (version uint64, ok bool) {
	key := removalKey(id, true)
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.byID[key]
	if !ok {
		return 0, false
	}
	e.back, e.to = true, weak.Pointer[Session]{}
	r.byID[key] = e
	return e.version, true
}

// renamedBackOver reports whether a member's record of id as an old id up to version is
// of a rename away that this node's rename back to id came after (see removal.back).
func (r *removals) renamedBackOver(id string, version uint64) bool {
	now := time.Now().UnixNano()
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.byID[removalKey(id, true)]
	return ok && e.back && e.until > now && version <= e.version
}

// current reports whether e is the entry of its key's record (not one noted again since).
func (r *removals) current(e removedID) bool {
	cur, ok := r.byID[e.key]
	return ok && cur.until == e.until
}

// covers reports whether a record still kept removes a copy of id at version: the
// session's (under any route) or id's own as an old id, at that version or later.
func (r *removals) covers(id string, version uint64) bool { return r.coversCopy(id, version, 0) }

// coversCopy is covers for a member's copy of a session made again above a removal at
// born (SessionState.born, 0 if none): the removed session's record at born or below
// is not its (TestRefreshTakesSessionMadeAgainAtTheRemoval).
func (r *removals) coversCopy(id string, version, born uint64) bool {
	now := time.Now().UnixNano()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, key := range [2]string{removalKey(id, false), removalKey(id, true)} {
		e, ok := r.byID[key]
		if !ok || e.until <= now || e.version < version || e.back {
			continue
		}
		if !e.renamed && born > 0 && e.version <= born {
			continue // made again above it
		}
		return true
	}
	return false
}

// removedAt returns the version at which the session id (under any route) was removed,
// if its record is still kept.
func (r *removals) removedAt(id string) (version uint64, ok bool) {
	now := time.Now().UnixNano()
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.byID[removalKey(id, false)]
	if !ok || e.until <= now {
		return 0, false
	}
	return e.version, true
}

// renamedTo returns the session renamed from old that this node held, if old's record
// is still kept and the session not collected.
func (r *removals) renamedTo(old string) *Session {
	now := time.Now().UnixNano()
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.byID[removalKey(old, true)]
	if !ok || e.until <= now || e.back {
		return nil
	}
	return e.to.Value()
}

// list returns the removals still kept that were noted at or after since (unix ms; 0:
// all), as entries of a state transfer chunk.
func (r *removals) list(since int64) []SessionState {
	now := time.Now().UnixNano()
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]SessionState, 0, len(r.byID))
	for _, e := range r.byID {
		if e.until > now && e.noted >= since && !e.back {
			out = append(out, SessionState{ID: e.id, Version: e.version, Removed: true, Renamed: e.renamed})
		}
	}
	return out
}

// len returns how many removals are recorded.
func (r *removals) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.byID)
}

// sendsRemovals reports whether codec can send removal records (BinaryCodec).
func sendsRemovals(codec MessageCodec) bool {
	switch codec.(type) {
	case BinaryCodec, *BinaryCodec:
		return true
	}
	return false
}

// noteRemoved records that id no longer names s, whose version was at most version:
// s was removed, or renamed from id.
func (m *Manager) noteRemoved(id string, s *Session, version uint64, renamed bool) {
	s.mu.Lock()
	sec := s.maxInactive
	version = max(version, s.topVersion())
	s.mu.Unlock()
	m.gone.note(id, version, keepRemoval(sec), renamed, nil)
}

// mergeRemoval applies a member's removal record (mergeSessions, or a state transfer's
// loadSessions): it removes this node's copies it covers and records it, to pass on, to
// keep a session it covers from coming back from another member that missed the removal,
// and a late message from making it again. refresh counts the copies it removes in
// Stats.RefreshRemovals.
func (m *Manager) mergeRemoval(ctx context.Context, st *SessionState, refresh bool) {
	if st.Renamed && m.gone.renamedBackOver(st.ID, st.Version) {
		return // a rename away from an id this node renamed the session back to since
	}
	ids := []string{st.ID}
	if !st.Renamed { // the session, under every route this node knows
		if base := sessionhttp.WithRoute(st.ID, ""); base != st.ID {
			ids = append(ids, base)
		}
		ids = slices.AppendSeq(ids, m.otherRouteIDs(st.ID))
	}
	// Noted first: a copy a state transfer loads meanwhile (chunks load in parallel)
	// finds the record if this loop does not find the copy (loadSessions).
	m.gone.note(st.ID, st.Version, keepRemoval(0), st.Renamed, nil)
	for _, id := range ids {
		s := m.st.get(id)
		if s == nil || !s.IsValid() {
			continue // none, or being removed
		}
		if !st.Renamed && s.madeAgainSince(st.Version) {
			continue // made again above this removal (a creation said so, born)
		}
		if !s.olderThan(st.Version + 1) { // changed after the removal: made again above it
			if !st.Renamed {
				s.madeAgainAbove(st.Version)
			}
			continue
		}
		_ = m.expire(ctx, s, false, causeInvalidated, true)
		if refresh {
			m.stats.refreshRemoved.Add(1)
		}
	}
}
