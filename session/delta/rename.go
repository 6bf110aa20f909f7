package delta

import (
	"context"
	"errors"
	"fmt"
	"math"
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
		now := nowMs()
		s.noteLeft(oldID, newID, now) // at the rename's time, which its members record too
		m.skip(oldID)
		m.noteRenamed(oldID, s)
		s.markSent()
		err := m.broadcast(ctx, &Message{Event: EventChangeSessionID, SessionID: oldID, NewID: newID, Timestamp: now, Version: raised})
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

// leftID is an id a binder's rename (routeOnly) took a session away from, and when: at
// is the wall clock (unix ms) of the rename's message (Message.Timestamp: the renaming
// node's), or later on a node whose list held a later time already (noteLeft), so that
// the id a node last saw the session leave is its newest. Ids of a member that sends no
// times (a Go node of an earlier version, or one not asked with leftAtAsk) are timed 1 to
// maxLeft by their place in its list, the newest maxLeft (untimedLeft): older than any
// timed one, and in its order.
type leftID struct {
	id string
	at int64
}

// newerLeft reports whether a sorts before b newest first: by time, then by id bytes.
// It orders every two distinct ids the same way on every node: the merge's order.
func newerLeft(a, b leftID) bool {
	if a.at != b.at {
		return a.at > b.at
	}
	return a.id > b.id
}

// leftIDs returns the ids of left, in its order.
func leftIDs(left []leftID) []string {
	if len(left) == 0 {
		return nil
	}
	ids := make([]string, len(left))
	for i, l := range left {
		ids[i] = l.id
	}
	return ids
}

// leftTimes returns the times of left, in its order.
func leftTimes(left []leftID) []int64 {
	if len(left) == 0 {
		return nil
	}
	at := make([]int64, len(left))
	for i, l := range left {
		at[i] = l.at
	}
	return at
}

// leftOf returns a member's ids, oldest first, with their times at (SessionState.left,
// leftAt); without times (at not one for each id: a member that sent none), each is
// timed by its place: the newest maxLeft, the one before it maxLeft-1 and so on
// (untimedLeft).
func leftOf(ids []string, at []int64) []leftID {
	if len(ids) == 0 {
		return nil
	}
	left := make([]leftID, len(ids))
	for i, id := range ids {
		if len(at) == len(ids) {
			left[i] = leftID{id, at[i]}
		} else {
			left[i] = leftID{id, untimedLeft - int64(len(ids)-1-i)}
		}
	}
	return left
}

// membersLeft is leftOf for the ids a member's copy of a session left (a chunk's: load,
// takeLeft), each of their times within clampLeftAt's bounds.
func membersLeft(ids []string, at []int64) []leftID {
	left := leftOf(ids, at)
	for i := range left {
		left[i].at = clampLeftAt(left[i].at)
	}
	return left
}

// untimedLeft is the time of the newest id of a list that came without times (leftOf):
// below any wall clock, so such ids count as older than every timed one.
const untimedLeft = maxLeft

// maxLeftAt is the latest time a member's rename or list gives an id (clampLeftAt): far
// past any wall clock, and far enough below math.MaxInt64 that each later rename here
// is timed after it (addLeft) for more renames than a session sees.
const maxLeftAt = math.MaxInt64 / 2

// clampLeftAt returns at, a time a member's rename or list gives an id (whatever the
// wire's varint holds), within untimedLeft+1 and maxLeftAt: an id a member timed is
// newer than every untimed one, and none pins the newest place, so that the id each
// rename here takes a session away from is still its newest and kept
// (TestNoteLeftNewestWhateverAMembersTimes; before, past an id at math.MaxInt64 the
// times stopped there and the id bytes ordered it below the member's). A time this
// node gave past maxLeftAt (addLeft, after such an id) reaches a member as maxLeftAt.
func clampLeftAt(at int64) int64 {
	return min(max(at, untimedLeft+1), maxLeftAt)
}

// noteLeft records old, the id a binder's rename (routeOnly) to newID took s away from
// here at (the rename's Message.Timestamp), for heldBefore; a rename to a new id records
// nothing.
func (s *Session) noteLeft(old, newID string, at int64) {
	if !routeOnly(old, newID) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.addLeft(old, at)
}

// addLeft records id as the last id a binder's rename took s away from, at at or, if the
// list holds a later time (another node's clock ahead of this one's), just after it: the
// id is the newest here whatever the clocks. Past maxLeft ids or maxLeftBytes bytes the
// oldest are forgotten (mergeLeft's bounds); an id longer than maxLeftBytes alone is not
// recorded. The caller holds s.mu.
func (s *Session) addLeft(id string, at int64) {
	if len(id) > maxLeftBytes {
		return
	}
	x := s.x()
	at = clampLeftAt(at)
	if n := len(x.left); n > 0 && x.left[n-1].at >= at {
		at = x.left[n-1].at
		if at < math.MaxInt64 {
			at++
		}
	}
	x.left = mergeLeft(x.left, []leftID{{id, at}})
}

// takeLeft merges ids, those a member's copy of s left (AskLeft, AskRecentLeft), with
// their times at (nil: none sent), into s's own (mergeLeft): a refresh or a catch-up that
// merges that copy into s, or renames s for it, rather than loading it over s (which
// merges them too: load) brings them (TestMergeTakesTheMembersLeftIDs).
func (s *Session) takeLeft(ids []string, at []int64) {
	if len(ids) == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.x().left = mergeLeft(s.e().left, membersLeft(ids, at))
}

// mergeLeft returns own and theirs merged, oldest first: each id once, at the later of
// its times, the newest of them by time then id bytes (newerLeft) within maxLeft ids and
// maxLeftBytes bytes, taken from the newest down and one that does not fit beside those
// before it skipped (an id longer than maxLeftBytes alone is never kept). The result
// depends only on the ids and their times, not on which side is this node's: two nodes
// that merged each other's lists hold the same list, ids and order
// (TestMergeLeftConverges), and merging either list again changes nothing (what the
// merge dropped was below every id it kept that it could have replaced): FuzzMergeLeft.
// Each side's newest stays unless the other holds maxLeft newer ids, or the two do not
// fit maxLeftBytes together beside the newer ones (TestMergeLeftKeepsTheNewestOfBoth,
// TestMergeLeftKeepsTheIDRenamedFromPastTheBytes).
func mergeLeft(own, theirs []leftID) []leftID {
	all := make([]leftID, 0, len(own)+len(theirs))
	for _, list := range [2][]leftID{own, theirs} {
		for _, l := range list {
			if len(l.id) <= maxLeftBytes {
				all = append(all, l)
			}
		}
	}
	slices.SortFunc(all, func(a, b leftID) int {
		switch {
		case newerLeft(a, b):
			return -1
		case newerLeft(b, a):
			return 1
		}
		return 0
	})
	kept := make([]leftID, 0, min(len(all), maxLeft)) // newest first
	size := 0
	for _, l := range all {
		if len(kept) == maxLeft {
			break
		}
		if slices.ContainsFunc(kept, func(k leftID) bool { return k.id == l.id }) {
			continue // held at a later time, kept there
		}
		if size+len(l.id) > maxLeftBytes {
			continue // a smaller older one may still fit
		}
		size += len(l.id)
		kept = append(kept, l)
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
	return slices.ContainsFunc(s.e().left, func(l leftID) bool { return l.id == id })
}
