package delta

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/gotribes/tribes/channel"
)

// A rename whose EVT_CHANGE_SESSION_ID did not reach every member (ChangeSessionID, the
// middleware's jvmRoute binder) leaves the session renamed here, while the members that
// missed the message hold it under its old id: a request with the new cookie there finds
// no session, one with the old cookie the session this node renamed against fixation.
// Like a failed EVT_SESSION_ACCESSED (sendFailed), the rename goes out again before the
// session's next message: its Replicate, ChangeSessionID or expiry; failing again, it
// stays to be sent, and the message after it goes out all the same. The session keeps,
// for each member a rename failed for, the one id that member may still hold it under:
// the id before the first rename it missed (the members a *channel.SendError names; for
// a failure naming none, every member listed then, or, with none listed, any member).
// A member that missed later renames too keeps that id, so there is at most one id per
// member, however many renames it missed. The resend renames each such id straight to
// the session's id then, one message for all the renames in between (a Tomcat node
// follows it as any EVT_CHANGE_SESSION_ID): no id is forgotten, and no rename is refused
// (TestNinthRenameDoneWhileEightUnsent, TestMemberMissingNineRenamesHoldsTheCurrentIDOnly).
// Members that hold another id ignore it; a member the resend fails for keeps its id,
// the others are done with (TestTwoPartlyFailedRenamesReachEveryMember). An asynchronous
// request (the middleware's, with an asyncQueue) queues them before its delta without
// waiting for their send (queueUnsentRename).
//
// A member that holds the session under an id in between (it took a rename though its
// send reported a failure, an acknowledgement lost, and missed a later one) ignores the
// resend and keeps that id; so does a member listed only after the failure (a state
// transfer or a catch-up gives it the session under its id then).

// heldID is an id a member may still hold a session under.
type heldID struct {
	member channel.MemberKey
	any    bool // every member: the failure named none, and none was listed
	id     string
}

// queuedRenames is the outcome of the resends an asynchronous request queued: done gets
// one result for each of them; n counts those not read yet, errs the failures read.
type queuedRenames struct {
	done chan error
	n    int
	errs []error
}

// wait returns the resends' outcome once every one is known, or ctx's error first (the
// results read so far are kept for the next wait).
func (q *queuedRenames) wait(ctx context.Context) error {
	for ; q.n > 0; q.n-- {
		select {
		case err := <-q.done:
			if err != nil {
				q.errs = append(q.errs, err)
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return errors.Join(q.errs...)
}

// known reports whether every resend's outcome arrived.
func (q *queuedRenames) known() bool { return len(q.done) >= q.n }

// renameRetry is what a session keeps of its renames that failed to reach every member.
type renameRetry struct {
	// held: for each member a rename missed, the id it may still hold the session
	// under, in the order of the renames
	held []heldID
	// queued: the outcome of ids' resends queued by an asynchronous request
	// (queueUnsentRename), nil when none is on its way
	queued *queuedRenames
}

// unsentIDs returns the ids members may still hold s under, each once, oldest first.
// The caller holds s.sendMu.
func (s *Session) unsentIDs() []string {
	if s.retry == nil {
		return nil
	}
	var ids []string
	for _, h := range s.retry.held {
		if !slices.Contains(ids, h.id) {
			ids = append(ids, h.id)
		}
	}
	return ids
}

// setHeld records held as the ids members may still hold s under. The caller holds
// s.sendMu.
func (s *Session) setHeld(held []heldID) {
	if s.retry == nil {
		if len(held) == 0 {
			return
		}
		s.retry = &renameRetry{}
	}
	s.retry.held = held
	if len(held) == 0 && s.retry.queued == nil {
		s.retry = nil
	}
}

// heldIDs returns what setHeld recorded. The caller holds s.sendMu.
func (s *Session) heldIDs() []heldID {
	if s.retry == nil {
		return nil
	}
	return s.retry.held
}

// queuedRenames returns the resends an asynchronous request queued, nil if none. The
// caller holds s.sendMu.
func (s *Session) queuedRenames() *queuedRenames {
	if s.retry == nil {
		return nil
	}
	return s.retry.queued
}

// setQueuedRenames records q as queuedRenames. The caller holds s.sendMu.
func (s *Session) setQueuedRenames(q *queuedRenames) {
	if s.retry == nil {
		if q == nil {
			return
		}
		s.retry = &renameRetry{}
	}
	s.retry.queued = q
	if q == nil && len(s.retry.held) == 0 {
		s.retry = nil
	}
}

// missedKeys returns the members err says a send failed for; ok is false when it names
// none (an error of another kind).
func missedKeys(err error) (keys []channel.MemberKey, ok bool) {
	for _, f := range channel.FaultyMembers(err) {
		keys = append(keys, f.Member.Key())
	}
	return keys, len(keys) > 0
}

// noteUnsentRename records that the rename of s from old failed with err, listed being
// the members then: those it failed for may hold s under old, unless an earlier rename
// missed them already (they hold an older id, kept). The caller holds s.sendMu.
func (s *Session) noteUnsentRename(old string, err error, listed []channel.Member) {
	keys, ok := missedKeys(err)
	if !ok {
		for _, m := range listed {
			keys = append(keys, m.Key())
		}
	}
	held := s.heldIDs()
	if len(keys) == 0 {
		if !slices.ContainsFunc(held, func(h heldID) bool { return h.any }) {
			held = append(held, heldID{any: true, id: old})
		}
		s.setHeld(held)
		return
	}
	for _, k := range keys {
		if !slices.ContainsFunc(held, func(h heldID) bool { return !h.any && h.member == k }) {
			held = append(held, heldID{member: k, id: old})
		}
	}
	s.setHeld(held)
}

// unsentRenameMessages returns the renames to send again, one for each id a member may
// hold s under, from it to s's current id. The caller holds s.sendMu.
func (s *Session) unsentRenameMessages() []*Message {
	cur := s.ID()
	// Renamed back to the id a member holds: nothing to send it.
	s.setHeld(slices.DeleteFunc(s.heldIDs(), func(h heldID) bool { return h.id == cur }))
	now := nowMs()
	var msgs []*Message
	for _, id := range s.unsentIDs() {
		msgs = append(msgs, &Message{Event: EventChangeSessionID, SessionID: id, NewID: cur, Timestamp: now})
	}
	return msgs
}

// resent records the outcome err of the resend renaming s from id: the members it failed
// for keep id (all of them, if err names none), the others are done with; any member
// keeps it after any failure. The caller holds s.sendMu.
func (s *Session) resent(id string, err error) {
	held := s.heldIDs()
	if err == nil {
		s.setHeld(slices.DeleteFunc(held, func(h heldID) bool { return h.id == id }))
		return
	}
	keys, ok := missedKeys(err)
	if !ok {
		return
	}
	var kept []heldID
	for _, h := range held {
		if h.id != id || h.any || slices.Contains(keys, h.member) {
			kept = append(kept, h)
		}
	}
	s.setHeld(kept)
}

// sendUnsentRename sends s's renames again if some failed to reach every member. The
// caller holds s.sendMu. On failure they stay to be sent, and so does an access
// (sendFailed). A resend an asynchronous request queued is waited for first.
func (m *Manager) sendUnsentRename(ctx context.Context, s *Session) error {
	if q := s.queuedRenames(); q != nil {
		err := q.wait(ctx)
		if q.n > 0 {
			return fmt.Errorf("delta: replicating id changes of session %s again: %w", s.ID(), err)
		}
		s.setQueuedRenames(nil)
		if err == nil {
			m.renameResent(s)
			return nil
		}
	}
	var errs []error
	for _, msg := range s.unsentRenameMessages() {
		err := m.broadcast(ctx, msg)
		s.resent(msg.SessionID, err)
		if err != nil {
			errs = append(errs, fmt.Errorf("delta: replicating id change %s -> %s again: %w", msg.SessionID, msg.NewID, err))
		} else {
			m.noteRemoved(msg.SessionID, s, 0, true)
		}
	}
	if len(errs) > 0 {
		s.sendFailed()
		return errors.Join(errs...)
	}
	return nil
}

// renameUnsentFrom reports whether a session this node renamed from id may still be
// held under id by members its rename did not reach. It is called with the new session
// under id added (create): a rename from id ran before that, and the session's send slot
// is held from before its rename until its failure is noted.
func (m *Manager) renameUnsentFrom(id string) bool {
	s := m.renamedFrom(id)
	if s == nil {
		return false
	}
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	return slices.Contains(s.unsentIDs(), id)
}

// renameResent records that s's renames reached the members. The caller holds s.sendMu.
func (m *Manager) renameResent(s *Session) {
	cur := s.ID()
	for _, old := range s.unsentIDs() {
		if old != cur {
			m.noteRemoved(old, s, 0, true)
		}
	}
	s.setHeld(nil)
}

// queueUnsentRename is sendUnsentRename for an asynchronous request (the middleware's,
// with the manager's asyncQueue): the renames are queued, before the request's delta,
// and the request does not wait for them (TestUnsentRenameDoesNotHoldTheAsyncRequest);
// the session's next message reads their outcome, and sends them again if one failed.
// The caller holds s.sendMu.
func (m *Manager) queueUnsentRename(s *Session) {
	if q := s.queuedRenames(); q != nil {
		if !q.known() {
			return // on their way: what the session sends next leaves after them
		}
		s.setQueuedRenames(nil)
		if err := q.wait(context.Background()); err == nil {
			m.renameResent(s)
			return
		}
		s.sendFailed()
	}
	msgs := s.unsentRenameMessages()
	if len(msgs) == 0 {
		return
	}
	q := &queuedRenames{done: make(chan error, len(msgs)), n: len(msgs)}
	for _, msg := range msgs {
		m.async.add(queuedMsg{msg: msg, done: q.done})
	}
	s.setQueuedRenames(q)
}
