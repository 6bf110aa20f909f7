package delta

import "sync"

// recentSent is a manager's log of the sessions it sent a message about lately, for the
// answer to a joiner's catch-up (catchup.go): without it, the answer read every session
// held (a million: 0.2-0.6 s on each member asked, one after the other, while the
// joiner waits to be ready). A session is logged, by id, at its first message in each
// second (unix), so that one sent about often takes one entry a second; the log keeps
// the last maxRecentSent entries. When the window a catch-up asks for starts no later
// than the second of an entry overwritten since, the log no longer covers it, and the
// answer reads every session (Stats.CatchUpScans). A second log of the same kind (the
// manager's taken) holds the sessions another node's change was taken of, for the answer
// to a member back in view.
type recentSent struct {
	mu   sync.Mutex
	ring []recentEntry // up to maxRecentSent, then overwritten from next on
	next int
	// lost is the latest second of an entry overwritten (0: none).
	lost int64
}

type recentEntry struct {
	id  string
	sec int64 // unix seconds
}

// maxRecentSent bounds the log: 65 536 entries of an id and a second (under 4 MiB with
// Create's ids, which the log keeps after their sessions are gone) cover a window of a
// few seconds at ten thousand sessions sent about a second. A variable for the tests.
var maxRecentSent = 1 << 16

// add logs that a message about the session id was sent at ms (unix ms).
func (r *recentSent) add(id string, ms int64) {
	e := recentEntry{id: id, sec: ms / 1000}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.ring) < maxRecentSent {
		r.ring = append(r.ring, e)
		return
	}
	if r.next >= len(r.ring) {
		r.next = 0
	}
	r.lost = max(r.lost, r.ring[r.next].sec)
	r.ring[r.next] = e
	r.next++
}

// since returns the ids logged in the second of ms (unix ms) or later, each once, and
// whether the log covers that time (no entry of that second or later was overwritten).
// The sessions they name may have been sent about before ms in that second (the caller
// checks each, Session.changedSince), or renamed since: by this node (the rename logs the
// new id) or by another (the caller follows the record of the rename, renamedFrom).
func (r *recentSent) since(ms int64) (ids []string, ok bool) {
	sec := ms / 1000
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.lost >= sec {
		return nil, false
	}
	seen := make(map[string]bool)
	for _, e := range r.ring {
		if e.sec >= sec && !seen[e.id] {
			seen[e.id] = true
			ids = append(ids, e.id)
		}
	}
	return ids, true
}

// noteSentLocked records that a message about s is sent at now (unix ms), logging s in
// its manager's recentSent at its first message in a second (the caller holds s.mu).
func (s *Session) noteSentLocked(now int64) {
	if s.m != nil && (now/1000 != s.sentAt/1000 || s.sentAt == 0) {
		s.m.recent.add(s.id, now)
	}
	s.sentAt = now
}

// noteTaken records that another node's change of s (a delta, its creation, a rename, a
// member's copy merged or loaded by a refresh, a repair, a late catch-up or an ask-back:
// TestTakenThroughAMergeAnswersAMemberBack) is taken here now, logging s in its
// manager's taken log at its first such change in a second, under the id it has then.
func (s *Session) noteTaken() {
	s.mu.Lock()
	s.noteTakenLocked(nowMs())
	s.mu.Unlock()
}

// noteTakenLocked is noteTaken at now (unix ms); the caller holds s.mu.
func (s *Session) noteTakenLocked(now int64) {
	if sec := uint32(now / 1000); s.m != nil && sec != s.takenSec {
		s.m.taken.add(s.id, now)
		s.takenSec = sec
	}
}

// changedSince reports whether this node sent a message about s at or after ms (unix
// ms), or, with taken, took another node's change of it in the second of ms or later.
func (s *Session) changedSince(ms int64, taken bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sentAt >= ms || taken && int64(s.takenSec) >= ms/1000
}

// forRecent calls f for every session this node sent a message about at or after since
// (unix ms), and with taken every session it took another node's change of then too
// (the second of since included), from its logs of them when they cover that time, else
// by reading every session (TestTakenBeyondTheLogAnswerReadsEverySession). f returning
// false stops early. A member back in view asks
// with taken (AskBack): what a node that left for good meanwhile changed reached this
// node, not it (TestMemberBackGetsTheChangesOfANodeThatLeftMeanwhile); a joiner's
// catch-up asks without, every member answering for its own changes (its donor's
// transfer holds the others').
func (m *Manager) forRecent(since int64, taken bool, f func(*Session) bool) {
	ids, ok := m.recent.since(since)
	if ok && taken {
		var more []string
		more, ok = m.taken.since(since)
		ids = append(ids, more...)
	}
	if !ok {
		m.stats.catchUpScans.Add(1)
		m.st.forEach(func(s *Session) bool { return !s.changedSince(since, taken) || f(s) })
		return
	}
	seen := make(map[*Session]bool, len(ids))
	for _, id := range ids {
		s := m.st.get(id)
		if s == nil {
			s = m.renamedFrom(id) // renamed since (a rename logs the new id, but not in a second logged already)
		}
		if s == nil || seen[s] {
			continue
		}
		seen[s] = true
		if s.changedSince(since, taken) && !f(s) {
			return
		}
	}
}
