package delta

import (
	"context"
	"fmt"
)

// A rename whose EVT_CHANGE_SESSION_ID did not reach every member (ChangeSessionID, the
// middleware's jvmRoute binder) leaves the session renamed here, while the members that
// missed the message hold it under its old id: a request with the new cookie there finds
// no session, one with the old cookie the session this node renamed against fixation.
// Like a failed EVT_SESSION_ACCESSED (sendFailed), the rename goes out again before the
// session's next message: its Replicate, ChangeSessionID or expiry, from the id the
// members may hold to the session's id then; failing again, it stays to be sent, and the
// message after it goes out all the same. A member that got it the first time holds the
// new id already and ignores it. An asynchronous request (the middleware's, with an
// asyncQueue) queues it before its delta without waiting for its send
// (queueUnsentRename).

// noteUnsentRename records that the members may still hold s under old, unless an
// earlier rename is still to be sent: the members that missed it hold the id before.
// The caller holds s.sendMu.
func (s *Session) noteUnsentRename(old string) {
	if s.unsentRename == "" {
		s.unsentRename = old
	}
}

// sendUnsentRename sends s's rename again if one failed to reach every member, from the
// id the members may still hold to s's current one. The caller holds s.sendMu. On
// failure the rename stays to be sent, and so does an access (sendFailed). A resend an
// asynchronous request queued is waited for first.
func (m *Manager) sendUnsentRename(ctx context.Context, s *Session) error {
	if done := s.renameQueued; done != nil {
		select {
		case err := <-done:
			s.renameQueued = nil
			if err == nil {
				m.renameResent(s)
				return nil
			}
		case <-ctx.Done():
			return fmt.Errorf("delta: replicating id change %s -> %s again: %w", s.unsentRename, s.ID(), ctx.Err())
		}
	}
	old := s.unsentRename
	if old == "" {
		return nil
	}
	cur := s.ID()
	if cur == old {
		s.unsentRename = ""
		return nil
	}
	err := m.broadcast(ctx, &Message{Event: EventChangeSessionID, SessionID: old, NewID: cur, Timestamp: nowMs()})
	if err != nil {
		s.sendFailed()
		return fmt.Errorf("delta: replicating id change %s -> %s again: %w", old, cur, err)
	}
	m.renameResent(s)
	return nil
}

// renameResent records that s's rename reached the members. The caller holds s.sendMu.
func (m *Manager) renameResent(s *Session) {
	old := s.unsentRename
	s.unsentRename = ""
	m.noteRemoved(old, s, 0, true)
}

// queueUnsentRename is sendUnsentRename for an asynchronous request (the middleware's,
// with the manager's asyncQueue): the rename is queued, before the request's delta, and
// the request does not wait for it (TestUnsentRenameDoesNotHoldTheAsyncRequest); the
// session's next message reads its outcome, and sends it again if it failed. The caller
// holds s.sendMu.
func (m *Manager) queueUnsentRename(s *Session) {
	if done := s.renameQueued; done != nil {
		select {
		case err := <-done:
			s.renameQueued = nil
			if err == nil {
				m.renameResent(s)
				return
			}
			s.sendFailed()
		default:
			return // on its way: what the session sends next leaves after it
		}
	}
	old := s.unsentRename
	if old == "" {
		return
	}
	cur := s.ID()
	if cur == old {
		s.unsentRename = ""
		return
	}
	done := make(chan error, 1)
	m.async.add(queuedMsg{msg: &Message{Event: EventChangeSessionID, SessionID: old, NewID: cur, Timestamp: nowMs()}, done: done})
	s.renameQueued = done
}
