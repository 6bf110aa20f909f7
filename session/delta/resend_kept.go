package delta

import (
	"context"
	"maps"
	"slices"
)

// A refresh's or a repair's load that keeps a change this node sent and the member's copy
// lacks (refresh_keep.go) marks it pending again; its delta may have been lost without an
// error (asynchronous replication), and no request may come to this node to send it. So
// the manager keeps such sessions (at most maxKept) and sends their pending changes
// itself, as a request's end would (Replicate: a running request's changes go too, and
// its own end sends what it changes after): once the refresh or the repair round is
// over, and again at each sweep (ProcessExpires) while the send fails (a sweep stops at
// the first failure). A session past maxKept sends them with its next request only.

// maxKept bounds the sessions whose kept changes wait to be sent again.
const maxKept = 1 << 12

// noteKept records that s holds changes a load kept to send again. The caller may hold
// s.mu: keptMu is taken after it.
func (m *Manager) noteKept(s *Session) {
	m.keptMu.Lock()
	defer m.keptMu.Unlock()
	if m.kept == nil {
		m.kept = map[*Session]struct{}{}
	}
	if len(m.kept) < maxKept {
		m.kept[s] = struct{}{}
	}
}

// resendKept sends the pending changes of the sessions noteKept recorded; those it could
// not send wait for the next call.
func (m *Manager) resendKept(ctx context.Context) {
	m.keptMu.Lock()
	ss := slices.Collect(maps.Keys(m.kept))
	clear(m.kept)
	m.keptMu.Unlock()
	for i, s := range ss {
		if !s.hasPending() {
			// Sent since, or replaced by another node's later change (the pending action
			// dropped), or the session gone: replicating it would tell the members that
			// this node served it (an EVT_SESSION_ACCESSED: their copies no longer the
			// primary, their access times reset) though no request came here
			// (TestSweepSendsNothingOnceKeptChangesAreReplaced).
			continue
		}
		err := ctx.Err()
		if err == nil {
			err = m.replicate(ctx, s, true) // asynchronous: until sent, to know it failed
		}
		if err != nil {
			// Most likely without the quorum, or a member not answering: the rest waits
			// for the next sweep.
			m.log.Debug("delta: changes kept by a refresh or a repair not sent again yet", "session", s.ID(), "err", err)
			for _, s := range ss[i:] {
				m.noteKept(s)
			}
			return
		}
	}
}

// hasPending reports whether s, valid, holds changes not sent yet.
func (s *Session) hasPending() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.valid && !s.expiring && len(s.pending) > 0
}
