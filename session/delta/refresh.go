package delta

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/gotribes/tribes/channel"
)

// A node that loses its quorum (Config.ClusterSize) acknowledges no change until it has
// the quorum again, but the members it lost may have gone on: the majority side of a
// partition acknowledges changes that this node, on the minority side, never got. So when
// the quorum comes back, before acknowledging changes again, the node refreshes its
// copies: it asks every member in its view for every session, as a joiner asks one, and
// keeps each session's copy with the highest version (refresh). Any majority holding the
// latest acknowledged change of a session overlaps this node's view, and this node
// acknowledged nothing without the quorum, so the highest version among the members is
// the latest acknowledged one. A copy is replaced only by a higher version, keeping this
// node's changes not sent yet (refresh_keep.go), and removed
// when it is held under an id a member renamed meanwhile, or when a member remembers the
// removal of its session (removals.go, mergeSessions).
//
// Meanwhile the node's own changes fail with ErrNoQuorum (errRefreshing) and the messages
// that arrive wait; they are applied after the refresh, in order, but for a delta not
// newer than the refreshed copy. A member's request for every session is served: a node
// that joins as the others come back (the quorum's return) takes the sessions of the
// oldest member, which may be this one, the only one left with them (a member still
// starting declines this node's request, and this node asks the next one). Versions are
// BinaryCodec's: Tomcat's deltas carry none (a copy that applies one counts from 0
// again), so with JavaCodec a refresh adds the sessions this node lacks and replaces a
// copy only when the member's counted more changes since (a copy can stay stale).

// quorumPeer returns the peer the lines of a loss of the quorum and of the refresh that
// follows are rate-limited under (Manager.serveLog): the member whose cut stood this
// node down; for a view below the quorum, "(view) " and the address of the member that
// left last (Cluster.lastGone), whose departure took it there, so that a member leaving
// and coming back over and over uses up its own first lines and not those of another
// member's departure (TestViewLossesLoggedPerMember), or "(view)" alone when none left
// yet. A member can make a node stand down over and over (stale pings, each past
// cutHoldOff: TestRepeatedStandDownsQuorumLogBounded), and views can flap: the first
// lines are logged, then a count. The keys are members', as those of the transfers
// served: the limiter tracks at most its MaxKeys (1024) of them, forgetting those quiet
// for its interval, and new ones beyond share one entry.
func (m *Manager) quorumPeer() string {
	if p := m.quorumCause.Load(); p != nil {
		return *p
	}
	return "(view)"
}

// maxRefreshQueue bounds the messages that wait for a refresh. Past it they are dropped
// and the refresh asks every member for its sessions again: a member's sessions hold the
// changes of the messages it sent before it answers.
var maxRefreshQueue = 1 << 16 // a variable for the test of the bound

// refreshRetry is how long a refresh waits before it asks again the members that did not
// give their sessions, when fewer than the quorum did.
const refreshRetry = 250 * time.Millisecond

// errProbing is the error of a change made while the members probe one that just left
// this node's view (cut.go).
var errProbing = fmt.Errorf("%w: a member just left this node's view, and the others are probing it", ErrNoQuorum)

// errRefreshing is the error of a change made while the manager lacks the quorum, or
// refreshes its copies after getting it back.
var errRefreshing = fmt.Errorf("%w: this node was without it and refreshes its sessions from the members", ErrNoQuorum)

// refusing returns errRefreshing while the manager must not send changes: it lost the
// quorum and has not refreshed its copies since, or a partial partition makes it stand
// down (cut.go); errProbing while a member that just left the view is probed. (Without
// the quorum still, judge's count refuses them.)
func (m *Manager) refusing() error {
	if m.quorum == 0 {
		return nil
	}
	if m.refreshOn.Load() || m.cl.cuts.outranked.Load() || m.quorumLost.Load() && len(m.cl.ch.Members()) >= m.quorum {
		return errRefreshing
	}
	if m.cl.cuts.pausing.Load() && len(m.cl.ch.Members()) >= m.quorum {
		return errProbing
	}
	return nil
}

// lacksQuorum reports whether the manager's copies may be stale for want of the quorum:
// it has fewer members than the quorum, is cut off from a member with a lower id that
// others reach or is finding out whether a member that left is (cut.go), or lost the
// quorum and has not refreshed since. The middleware serves no request for a session
// meanwhile.
func (m *Manager) lacksQuorum() bool {
	return m.quorum > 0 && (m.quorumLost.Load() || m.refreshOn.Load() || !m.hasQuorum() || m.cl.cuts.pausing.Load())
}

// hasQuorum reports whether the view holds the quorum and no partial partition makes this
// node stand down (cut.go).
func (m *Manager) hasQuorum() bool {
	return len(m.cl.ch.Members()) >= m.quorum && !m.cl.cuts.outranked.Load()
}

// noteView follows the quorum as the membership changes: losing it marks this node's
// copies as possibly stale, getting it back starts their refresh.
func (m *Manager) noteView() {
	if m.quorum == 0 {
		return
	}
	n := len(m.cl.ch.Members())
	if n < m.quorum || m.cl.cuts.outranked.Load() {
		if !m.quorumLost.Swap(true) {
			cause := "(view)"
			if gone := m.cl.lastGone.Load(); gone != nil {
				cause += " " + *gone
			}
			if n >= m.quorum {
				cause = m.cl.standDownBy()
			}
			m.quorumCause.Store(&cause)
			m.serveLog.Log(slog.LevelWarn, cause, "quorum lost",
				"delta: lost the quorum; acknowledging no change until it is back and the sessions are refreshed",
				"members", n, "clusterSize", m.cfg.ClusterSize, "partialPartition", n >= m.quorum)
		}
		return
	}
	if !m.quorumLost.Load() {
		return
	}
	m.mu.Lock()
	m.startRefreshLocked()
	m.mu.Unlock()
}

// startRefreshLocked starts a refresh unless one runs or the manager does not run; m.mu
// is held.
func (m *Manager) startRefreshLocked() {
	if m.state != stateRunning || !m.refreshPending.CompareAndSwap(false, true) {
		return
	}
	m.wg.Add(1) // under m.mu while running, so never concurrent with Stop's Wait
	go m.runRefresh(m.bg)
}

// startedWithout marks a manager that starts running (m.mu held, after its state
// transfer if any) without the quorum, to refresh once it has it; or starts the refresh
// at once if the quorum came while it was starting.
func (m *Manager) startedWithout() {
	if m.quorum == 0 || !m.quorumLost.Load() && m.hasQuorum() {
		return
	}
	m.quorumLost.Store(true)
	if m.hasQuorum() {
		m.startRefreshLocked()
	}
}

// runRefresh refreshes the manager's copies from every member, then applies the messages
// that arrived meanwhile; again if the quorum was lost and found again in the meantime.
func (m *Manager) runRefresh(ctx context.Context) {
	defer m.wg.Done()
	for {
		m.refresh(ctx)
		m.resendKept(ctx) // its copies' changes sent that their members lacked
		m.refreshPending.Store(false)
		// A loss and return of the quorum since the refresh began, seen by noteView while
		// refreshPending was still set: refresh again, unless noteView started one now.
		if ctx.Err() != nil || !m.quorumLost.Load() || !m.hasQuorum() ||
			!m.refreshPending.CompareAndSwap(false, true) {
			return
		}
	}
}

// refresh is one refresh (see above).
func (m *Manager) refresh(ctx context.Context) {
	m.lockAttempt() // no repair asks a member meanwhile: chunks go to mergeSessions
	defer m.attemptMu.Unlock()
	m.mu.Lock()
	m.refreshing = true
	m.refreshOn.Store(true)
	m.quorumLost.Store(false)
	m.queueOverflow = false
	m.mu.Unlock()
	start := time.Now()
	before := m.stats.refreshed.Load()
	m.serveLog.Log(slog.LevelInfo, m.quorumPeer(), "quorum back",
		"delta: the quorum is back; refreshing the sessions from every member", "members", len(m.cl.ch.Members()))
	// Until at least the quorum's worth of members gave their sessions, the copies may
	// miss what the majority acknowledged (this node and those members are a majority,
	// which any majority that acknowledged a change overlaps): a member that does not list
	// this node yet, right after the partition healed, refuses its request (FAIL_ACK), and
	// one still starting declines it. Those are asked again, as is a member that appears
	// meanwhile; the node acknowledges nothing and serves no session until then.
	gave := map[channel.MemberKey]bool{}
again:
	for round := 0; ctx.Err() == nil; round++ {
		if round > 0 {
			t := time.NewTimer(refreshRetry)
			select {
			case <-ctx.Done():
			case <-t.C:
			}
			t.Stop()
		}
		for _, donor := range m.cl.ch.Members() {
			if ctx.Err() != nil || gave[donor.Key()] {
				continue
			}
			if _, err := m.refetch(ctx, donor, nil, true); err != nil {
				// Asked again every refreshRetry while it refuses: rate-limited per member
				// (TestRefreshRefusalsLogBounded).
				m.serveLog.LogFunc(slog.LevelInfo, donor.Addr(), "refresh not given",
					"delta: a member did not give its sessions for the refresh", func() []any {
						return []any{"member", donor.Addr(), "err", err}
					})
				continue
			}
			gave[donor.Key()] = true
		}
		if len(gave) >= m.quorum {
			break
		}
	}
	answered := len(gave)
	for {
		m.mu.Lock()
		if m.queueOverflow && ctx.Err() == nil { // messages were dropped: ask everyone again
			m.queueOverflow = false
			m.mu.Unlock()
			clear(gave)
			// Members that keep sending more than the queue holds make it overflow
			// round after round: rate-limited (TestRefreshQueueOverflowLogBounded).
			m.serveLog.Log(slog.LevelWarn, m.quorumPeer(), "refresh queue overflow",
				"delta: too many messages arrived during the refresh; asking every member again",
				"limit", maxRefreshQueue)
			goto again
		}
		q := m.refreshQueue
		m.refreshQueue = nil
		if len(q) == 0 || ctx.Err() != nil {
			m.refreshing = false
			m.refreshOn.Store(false)
			m.mu.Unlock()
			break
		}
		m.mu.Unlock()
		for _, e := range q {
			m.replayRefreshed(e)
		}
	}
	m.stats.refreshes.Add(1)
	m.serveLog.LogFunc(slog.LevelInfo, m.quorumPeer(), "refreshed", "delta: sessions refreshed", func() []any {
		return []any{"answered", answered, "members", len(m.cl.ch.Members()),
			"replaced", m.stats.refreshed.Load() - before, "elapsed", time.Since(start)}
	})
}

// mergeSessions loads a chunk answering a refresh: a session this node lacks is added, a
// copy older than the chunk's (a lower version) replaced. A session a member renamed while
// this node was cut off (a binder's failover: the client's requests went to the other
// side) is here under its old id: that copy is renamed to the chunk's id, or removed if
// the chunk's id is held too, unless it is newer. A removal record (removals.go) removes
// the copy it names unless that is newer, and keeps a session it names that another
// member still holds, at that version or older, from coming back. late: the chunk answers
// a running joiner's late catch-up, whose copies merge by mergeLate; one this node
// renamed lately merges into the renamed copy.
func (m *Manager) mergeSessions(ctx context.Context, list []SessionState, late bool) {
	for i := range list {
		st := &list[i]
		if !validID(st.ID) {
			m.stats.unexpected.Add(1)
			continue
		}
		if st.Removed {
			m.mergeRemoval(ctx, st, true)
			continue
		}
		if m.gone.coversCopy(st.ID, st.Version, st.born) {
			continue // that member missed the removal
		}
		if r := m.renamedFrom(st.ID); late && r != nil {
			// This node renamed the session lately (a client's failover to it), and that
			// member did not take the rename (it refused it, not listing this node yet):
			// the copy stays under its new id, the client's.
			r.takeLeft(st.left, st.leftAt)
			m.mergeLate(ctx, r, st, false)
			continue
		}
		m.noteRoute(st.ID)
		renamed := m.renameForRepair(st.ID)
		s, added := m.st.getOrAdd(st.ID, func() *Session { return newTransferredReplica(m, st) })
		if s == nil {
			return // the manager stopped meanwhile
		}
		if !added { // loaded over, it takes them (load); merged or renamed, it adds them
			s.takeLeft(st.left, st.leftAt)
		}
		if late {
			m.mergeLate(ctx, s, st, added)
			continue
		}
		switch {
		case added:
			s.loadTransferred(st)
		case s.loadIfNewer(st), renamed:
		default:
			// Not newer by version, but it may hold a concurrent change this copy lacks.
			ns, changed := s.mergeStamped(st, m.notifyReplicated())
			m.fire(ctx, s, true, ns...)
			if changed {
				s.noteTaken()
				m.stats.refreshed.Add(1)
			}
			m.dropOlderNames(ctx, s, st.Version)
			continue
		}
		s.noteTaken() // for a member back (AskBack): TestTakenThroughAMergeAnswersAMemberBack
		m.loadedAboveRemoval(s, st)
		m.dropOlderNames(ctx, s, st.Version)
		m.stats.refreshed.Add(1)
	}
}

// maxOlderNames bounds the copies dropOlderNames removes for one session (one per route a
// session was renamed from, or one already being expired and so found again).
const maxOlderNames = 8

// dropOlderNames removes the copies of s held under its id with another route (see
// mergeSessions) whose version is at most version.
func (m *Manager) dropOlderNames(ctx context.Context, s *Session, version uint64) {
	for range maxOlderNames {
		o := m.underOtherRoute(s.ID(), m.st.get)
		if o == nil || o == s || !o.olderThan(version+1) {
			return
		}
		old := o.ID()
		_ = m.expire(ctx, o, false, causeInvalidated, true)
		m.noteRemoved(old, o, 0, true) // an old name: the session lives on
	}
}

// replayRefreshed handles a message that arrived during a refresh, as receive would have,
// unless it is a delta the refreshed copy of its session already holds.
func (m *Manager) replayRefreshed(e queued) {
	if e.msg.Event == EventDelta && e.msg.Version != 0 {
		if s := m.st.get(e.msg.SessionID); s != nil && !s.olderThan(e.msg.Version) {
			m.dropStale(m.work, e)
			return
		}
	}
	if m.holdForRepair(e.msg, e.src) {
		return
	}
	m.dispatch(m.work, e.msg, e.src)
	m.releaseHeld(m.work, e.msg)
}
