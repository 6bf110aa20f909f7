package delta

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/gotribes/tribes/internal/sessionhttp"
)

// Renaming a session (ChangeSessionID): here at once, on the other nodes by
// EVT_CHANGE_SESSION_ID; what a member missed goes out again (rename_unsent.go).

// ChangeSessionID gives s a new id, here and on every other node
// (EVT_CHANGE_SESSION_ID): use it on login against session fixation. An empty newID
// means a fresh random one with this node's route. It returns the new id. The id
// listeners hear of the change once the cluster was told (or failed to be), outside the
// session's send slot, so that they may call back into the manager about the session.
// A session the manager does not hold (invalid, another manager's, or one its Stop took
// out) is refused with an error wrapping ErrInvalidSession
// (TestChangeSessionIDOfASessionNotHeld). If the cluster could not be told (the error
// wraps a *channel.SendError or ErrNoQuorum), the session keeps the new id here and the
// rename goes out again before the session's next message (Replicate, ChangeSessionID,
// Invalidate) until every member acknowledged it (TestFailedRenameIsSentAgain), from
// the id each member that missed it may hold straight to the session's id then. A rename
// is never refused for the renames not sent yet, however many
// (TestNinthRenameDoneWhileEightUnsent).
func (m *Manager) ChangeSessionID(ctx context.Context, s *Session, newID string) (string, error) {
	id, _, err := m.renameSession(ctx, s, newID)
	return id, err
}

// renameSession is ChangeSessionID reporting whether it renamed s here (the binder
// counts only those: TestRerouteWhileRenamesUnsentCounted).
func (m *Manager) renameSession(ctx context.Context, s *Session, newID string) (id string, renamed bool, err error) {
	if s == nil {
		return "", false, ErrNoSession
	}
	if s.m != m {
		return "", false, m.notMine(s)
	}
	generate := newID == ""
	if !generate && !validID(newID) {
		return "", false, fmt.Errorf("%w: %q", ErrInvalidSessionID, newID)
	}
	oldID, newID, renamed, err := m.changeID(ctx, s, newID, generate)
	if renamed {
		m.fire(context.Background(), s, false, notice{kind: nIDChanged, oldID: oldID})
	}
	return newID, renamed, err
}

// changeID is ChangeSessionID with the session's send slot held; renamed reports
// whether it renamed s from oldID (the listeners are then to be told).
func (m *Manager) changeID(ctx context.Context, s *Session, newID string, generate bool) (oldID, id string, renamed bool, err error) {
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	// A rename that failed before goes first; failing again, it is sent again later
	// from the id the members may hold to the session's id then.
	resendErr := m.sendUnsentRename(ctx, s)
	oldID, id, renamed, err = m.changeIDLocked(ctx, s, newID, generate)
	if resendErr != nil {
		err = errors.Join(resendErr, err)
	}
	return oldID, id, renamed, err
}

// changeIDLocked is changeID with s's send slot held.
func (m *Manager) changeIDLocked(ctx context.Context, s *Session, newID string, generate bool) (oldID, id string, renamed bool, err error) {
	for {
		oldID = s.ID()
		if generate {
			newID = newSessionID(m.cfg.JvmRoute)
		}
		if oldID == newID {
			if !s.IsValid() {
				return "", "", false, ErrInvalidSession
			}
			return oldID, newID, false, nil
		}
		ok, taken := m.st.rename(oldID, newID, s)
		switch {
		case taken && generate:
			continue
		case taken:
			return "", "", false, fmt.Errorf("%w: %s", ErrSessionIDInUse, newID)
		case !ok:
			if !s.IsValid() {
				return "", "", false, ErrInvalidSession
			}
			if s.ID() == oldID {
				// Not held under its id, nor renamed meanwhile (a rename sets the id
				// under the table's locks that rename took): the session is not this
				// manager's (another's, or taken out by Stop and not expired yet).
				return "", "", false, fmt.Errorf("%w: session %s is not held by manager %q", ErrInvalidSession, oldID, m.cfg.Name)
			}
			continue // renamed concurrently: try again from its current id
		}
		// Renamed back to an id renamed away from at the session's version (a binder's
		// renames change none): the version goes above that rename's record, so that a
		// copy renamed back is newer than every record of it, a node's that missed the
		// rename back too (removal.back). The rename carries it (BinaryCodec: 0 before).
		// This node may have forgotten that record while a member keeps it (kept longer
		// when merged): a binder's rename back to an id the session had here (heldBefore)
		// raises it too, with a codec that carries it
		// (TestRenameBackMissedForgottenByTheRenamer). A rename to a route the session
		// never had here raises none: a member that missed it only still applies the
		// next delta at once (TestJumpedVersionUnderAnotherRouteNeedsNoRepair). An
		// explicit id of another base (ChangeSessionID(s, id), no route change) raises
		// it always: it may be an id the session had, which the session does not list (a
		// login's generated id would put one in every session's list), and a member that
		// missed such a rename finds no copy for the next delta anyway
		// (TestExplicitRenameBackMissedForgottenByTheRenamer).
		var raised uint64
		if v, ok := m.gone.renamedBack(newID); ok {
			raised = s.raiseAbove(v)
		} else if sendsRemovals(m.cl.codec) && (s.heldBefore(newID) || !generate && !routeOnly(oldID, newID)) {
			raised = s.raise()
		}
		s.noteLeft(oldID, newID)
		m.skip(oldID)
		m.noteRenamed(oldID, s)
		s.markSent()
		err := m.broadcast(ctx, &Message{Event: EventChangeSessionID, SessionID: oldID, NewID: newID, Timestamp: nowMs(), Version: raised})
		if err != nil {
			// Sent again before the session's next message, to the members it missed.
			s.noteUnsentRename(oldID, err, m.cl.ch.Members())
			s.noteRaised(raised)
			if !slices.Contains(s.unsentIDs(), oldID) {
				m.noteRemoved(oldID, s, 0, true) // they hold an earlier id: none holds this one
			}
			return oldID, newID, true, fmt.Errorf("delta: replicating id change %s -> %s: %w", oldID, newID, err)
		}
		s.noteRaised(raised) // for members an earlier rename missed
		m.noteRemoved(oldID, s, 0, true)
		return oldID, newID, true, nil
	}
}

// routeOnly reports whether a rename from old to newID changes the route alone (a
// binder's): such renames can go back to an id the session had.
func routeOnly(old, newID string) bool {
	return sessionhttp.WithRoute(old, "") == sessionhttp.WithRoute(newID, "")
}

// maxLeft bounds the ids a session keeps of those a binder renamed it away from (one
// for each route of the cluster it went through; beyond it the oldest is forgotten).
const maxLeft = 8

// noteLeft records old, the id a binder's rename (routeOnly) to newID took s away from
// here, for heldBefore; a rename to a new id records nothing.
func (s *Session) noteLeft(old, newID string) {
	if !routeOnly(old, newID) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.addLeft(old)
}

// addLeft records id as the last id a binder's rename took s away from, forgetting the
// oldest past maxLeft ids or maxLeftBytes bytes; an id longer than maxLeftBytes alone is
// not recorded. The caller holds s.mu.
func (s *Session) addLeft(id string) {
	if len(id) > maxLeftBytes {
		return
	}
	x := s.x()
	x.left = slices.DeleteFunc(x.left, func(l string) bool { return l == id })
	if len(x.left) >= maxLeft {
		x.left = slices.Delete(x.left, 0, 1)
	}
	x.left = append(x.left, id)
	size := 0
	for _, l := range x.left {
		size += len(l)
	}
	for size > maxLeftBytes {
		size -= len(x.left[0])
		x.left = slices.Delete(x.left, 0, 1)
	}
}

// takeLeft merges ids, those a member's copy of s left (AskLeft, AskRecentLeft), into
// s's own (mergeLeft): a refresh or a catch-up that merges that copy into s, or renames s
// for it, rather than loading it over s (which merges them too: load) brings them
// (TestMergeTakesTheMembersLeftIDs).
func (s *Session) takeLeft(ids []string) {
	if len(ids) == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.x().left = mergeLeft(s.e().left, ids)
}

// mergeLeft returns own and theirs, each oldest first, merged, oldest first: the newest
// of both, within maxLeft ids and maxLeftBytes bytes (an id longer alone is not kept).
// Ids carry no time, so the lists order them: an id both hold orders the others (one
// that one list has after it is newer than one the other has before it), and ids
// nothing orders alternate from the newest, this node's first. So each side keeps its
// newest ids, first of all the one a binder's last rename there took the session away
// from, the id a rename back most likely goes to (this node's, where nothing orders the
// two and they do not fit maxLeftBytes together); appended after this node's, a
// member's older ids pushed its newer ones out (TestMergeLeftKeepsTheNewestOfBoth,
// TestMergeLeftKeepsTheIDRenamedFromPastTheBytes).
func mergeLeft(own, theirs []string) []string {
	kept := make([]string, 0, maxLeft) // newest first
	size := 0
	i, j := len(own)-1, len(theirs)-1
	ownTurn := true
	for len(kept) < maxLeft && (i >= 0 || j >= 0) {
		if i >= 0 && (len(own[i]) > maxLeftBytes || slices.Contains(kept, own[i])) {
			i--
			continue
		}
		if j >= 0 && (len(theirs[j]) > maxLeftBytes || slices.Contains(kept, theirs[j])) {
			j--
			continue
		}
		var id string
		switch {
		case j < 0:
			id, i = own[i], i-1
		case i < 0:
			id, j = theirs[j], j-1
		case own[i] == theirs[j]:
			id, i, j = own[i], i-1, j-1
		default:
			// own[i] before theirs[j] on their side: theirs[j] is the newer.
			ownOlder, theirsOlder := slices.Contains(theirs[:j], own[i]), slices.Contains(own[:i], theirs[j])
			takeOwn := ownTurn
			if ownOlder != theirsOlder {
				takeOwn = theirsOlder
			}
			if takeOwn {
				id, i = own[i], i-1
			} else {
				id, j = theirs[j], j-1
			}
			ownTurn = !takeOwn
		}
		if size+len(id) > maxLeftBytes {
			break // the newest that fit, as addLeft and the decoder keep
		}
		size += len(id)
		kept = append(kept, id)
	}
	slices.Reverse(kept)
	return kept
}

// heldBefore reports whether a binder's rename took s away from id before, here
// (noteLeft) or on a member whose copy this one loaded or merged (AskLeft,
// AskRecentLeft: takeLeft).
func (s *Session) heldBefore(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Contains(s.e().left, id)
}
