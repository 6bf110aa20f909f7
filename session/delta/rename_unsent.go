package delta

import (
	"context"
	"errors"
	"fmt"
	"slices"
)

// A rename whose EVT_CHANGE_SESSION_ID did not reach every member (ChangeSessionID, the
// middleware's jvmRoute binder) leaves the session renamed here, while the members that
// missed the message hold it under its old id: a request with the new cookie there finds
// no session, one with the old cookie the session this node renamed against fixation.
// Like a failed EVT_SESSION_ACCESSED (sendFailed), the rename goes out again before the
// session's next message: its Replicate, ChangeSessionID or expiry; failing again, it
// stays to be sent, and the message after it goes out all the same. A member that got it
// the first time holds the new id already and ignores it. Renames that each failed to
// reach some member (the second one's members need not be the first one's) go out again
// in their order, each from the id it renamed to the next one's and the last to the
// session's id then, so that a member holding any of these ids renames its copy on to
// the current one (TestTwoPartlyFailedRenamesReachEveryMember). At most
// maxUnsentRenames ids are kept, none forgotten: with that many unsent, and their
// resend failing again, ChangeSessionID refuses a further rename with ErrRenamesUnsent
// (changeID; TestNinthRenameRefusedWhileEightUnsent). Before, the oldest was dropped,
// and a member that had missed every rename kept the session under its first id for
// good, never renamed by the resends. An asynchronous request
// (the middleware's, with an asyncQueue) queues them before its delta without waiting
// for their send (queueUnsentRename).

// maxUnsentRenames bounds the ids a session's failed renames leave to be renamed again:
// a rename beyond it is refused (ErrRenamesUnsent).
const maxUnsentRenames = 8

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
	// ids: the ids the members may still hold the session under, oldest first
	ids []string
	// queued: the outcome of ids' resends queued by an asynchronous request
	// (queueUnsentRename), nil when none is on its way
	queued *queuedRenames
}

// unsentIDs returns the ids the members may still hold s under, oldest first. The
// caller holds s.sendMu.
func (s *Session) unsentIDs() []string {
	if s.retry == nil {
		return nil
	}
	return s.retry.ids
}

// setUnsentIDs records ids as unsentIDs. The caller holds s.sendMu.
func (s *Session) setUnsentIDs(ids []string) {
	if s.retry == nil {
		if len(ids) == 0 {
			return
		}
		s.retry = &renameRetry{}
	}
	s.retry.ids = ids
	if len(ids) == 0 && s.retry.queued == nil {
		s.retry = nil
	}
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
	if q == nil && len(s.retry.ids) == 0 {
		s.retry = nil
	}
}

// noteUnsentRename records that the members may still hold s under old. The caller
// holds s.sendMu; changeID keeps the ids within maxUnsentRenames.
func (s *Session) noteUnsentRename(old string) {
	s.setUnsentIDs(append(s.unsentIDs(), old))
}

// unsentRenameMessages returns the renames to send again, oldest first: each unsent id
// to the one after it, the last to s's current id. The caller holds s.sendMu.
func (s *Session) unsentRenameMessages() []*Message {
	unsent := s.unsentIDs()
	if len(unsent) == 0 {
		return nil
	}
	ids := append(unsent[:len(unsent):len(unsent)], s.ID())
	now := nowMs()
	var msgs []*Message
	for i, old := range ids[:len(ids)-1] {
		if old != ids[i+1] {
			msgs = append(msgs, &Message{Event: EventChangeSessionID, SessionID: old, NewID: ids[i+1], Timestamp: now})
		}
	}
	if len(msgs) == 0 {
		s.setUnsentIDs(nil) // renamed back to the id the members hold
	}
	return msgs
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
	for _, msg := range s.unsentRenameMessages() {
		if err := m.broadcast(ctx, msg); err != nil {
			s.sendFailed()
			return fmt.Errorf("delta: replicating id change %s -> %s again: %w", msg.SessionID, msg.NewID, err)
		}
	}
	m.renameResent(s)
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
	s.setUnsentIDs(nil)
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
