package delta

import (
	"context"
	"maps"
	"slices"
	"time"
)

func (m *Manager) sweepLoop(ctx context.Context) {
	defer m.wg.Done()
	t := time.NewTicker(m.cfg.ExpireInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			m.ProcessExpires(ctx)
		}
	}
}

// ProcessExpires runs one expiry sweep now (the background sweep calls it every
// Config.ExpireInterval) and returns how many sessions it expired. A primary session
// idle for its max inactive interval expires and the cluster is told (EVT_SESSION_EXPIRED);
// a copy expires silently after twice that, in case its primary died without telling
// (Tomcat's rule). It first sends again what earlier sends could not: expiries, and the
// changes a refresh or a repair kept (resend_kept.go).
func (m *Manager) ProcessExpires(ctx context.Context) int {
	if !m.running() {
		return 0
	}
	m.resendExpiries(ctx)
	m.resendKept(ctx)
	now := nowMs()
	n := 0
	m.st.forEach(func(s *Session) bool {
		if due, primary := s.expiryDue(now); due {
			if err := m.expire(ctx, s, primary, causeTimedOut, false); err != nil {
				m.log.Warn("delta: expiry not replicated", "err", err)
			}
			n++
		}
		return ctx.Err() == nil
	})
	return n
}

// A session removed here (invalidated, or expired as its primary) whose
// EVT_SESSION_EXPIRED did not reach every member would live on there: a user who logged
// out here is still logged in on the others, and a retry of the logout finds no session
// here to remove. So the manager keeps such ids (at most maxUnsent) and its sweep sends
// their EVT_SESSION_EXPIRED again, until every member acknowledges it (acked
// replication) or it was sent (asynchronous), or a session of that id exists here again;
// a sweep stops at the first send that fails. A member without the session ignores the
// message.

// maxUnsent bounds the ids whose expiry waits to be sent again.
const maxUnsent = 1 << 12

// noteUnsent records that id's expiry did not reach every member.
func (m *Manager) noteUnsent(id string) {
	m.unsentMu.Lock()
	defer m.unsentMu.Unlock()
	if m.unsent == nil {
		m.unsent = map[string]struct{}{}
	}
	if len(m.unsent) < maxUnsent {
		m.unsent[id] = struct{}{}
	}
}

// resendExpiries sends the expiries noteUnsent recorded again (ProcessExpires).
func (m *Manager) resendExpiries(ctx context.Context) {
	m.unsentMu.Lock()
	ids := slices.Collect(maps.Keys(m.unsent))
	m.unsentMu.Unlock()
	if len(ids) == 0 || len(m.cl.ch.Members()) == 0 {
		return
	}
	for _, id := range ids {
		if ctx.Err() != nil {
			return
		}
		err := error(nil)
		if m.st.get(id) == nil { // else the id names a session again: nothing to remove
			err = m.broadcast(ctx, &Message{Event: EventExpired, SessionID: id, Timestamp: nowMs()})
		}
		if err != nil {
			// Most likely the member that missed them still does not answer: the rest
			// waits for the next sweep, which so waits for at most one send's timeout.
			m.log.Debug("delta: expiry still not replicated", "session", id, "err", err)
			return
		}
		m.unsentMu.Lock()
		delete(m.unsent, id)
		m.unsentMu.Unlock()
	}
}
