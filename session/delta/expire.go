package delta

import (
	"context"
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
// (Tomcat's rule).
func (m *Manager) ProcessExpires(ctx context.Context) int {
	if !m.running() {
		return 0
	}
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
