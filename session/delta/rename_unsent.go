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
// new id already and ignores it.

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
// failure the rename stays to be sent, and so does an access (sendFailed).
func (m *Manager) sendUnsentRename(ctx context.Context, s *Session) error {
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
	s.unsentRename = ""
	m.noteRemoved(old, s, 0, true)
	return nil
}
