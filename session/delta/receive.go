package delta

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/gotribes/tribes/channel"
)

// receive handles a message from another node.
//
// now is when the channel message that carried msg was received, in ms since the epoch
// (nowMs, read once for all the messages of a batch), or 0: a delta applied at once takes
// it as its session's last access (unless the session was accessed later meanwhile:
// applyDelta); with 0 (a cluster with a manager that has listeners, Cluster.listeners), and
// for one kept for later (a transfer's or a refresh's queue, a repair's held messages), it
// reads the clock when it is applied.
func (m *Manager) receive(ctx context.Context, msg *Message, src channel.Member, now int64) {
	if msg.Event >= 0 && int(msg.Event) < len(m.stats.received) {
		m.stats.received[msg.Event].Add(1)
	}
	m.mu.Lock()
	switch m.state {
	case stateNew, stateStopped:
		m.mu.Unlock()
		return
	case stateTransferring:
		switch msg.Event {
		case EventAllSessionData, EventTransferComplete, EventNoContextManager:
			m.mu.Unlock()
			m.attemptMessage(ctx, msg, src)
			return
		case EventGetAllSessions:
			// Tomcat queues this and drops it after its own transfer, leaving the asker to
			// time out; answering at once lets it ask someone else (and two nodes starting
			// together do not wait for each other).
			m.mu.Unlock()
			m.cl.replyNoContext(m.cfg.Name, src, idNotReady, replyID(msg, uniqueNotReady))
			return
		}
		m.queue = append(m.queue, keepMsg(msg, src))
		m.mu.Unlock()
		m.stats.queued.Add(1)
		return
	}
	if m.refreshing && msg.Event != EventGetAllSessions && (m.signal == nil || !answersAsk(msg.Event)) { // refresh.go
		if answersAsk(msg.Event) {
			// An answer between the refresh's attempts (m.signal nil: a late one to an
			// earlier request) is unexpected now as it would be once replayed: kept, a
			// chunk held its sessions until then, maxRefreshQueue chunks of up to
			// MaxMessageSize each (TestChunkBetweenRefreshAttemptsIsNotKept).
			m.mu.Unlock()
			m.stats.unexpected.Add(1)
			return
		}
		if len(m.refreshQueue) >= maxRefreshQueue {
			// What they change is in their senders' sessions: the refresh asks every
			// member again (refresh.go).
			clear(m.refreshQueue)
			m.refreshQueue, m.queueOverflow = m.refreshQueue[:0], true
			m.stats.refreshOverflows.Add(1)
		}
		m.refreshQueue = append(m.refreshQueue, keepMsg(msg, src))
		m.mu.Unlock()
		return
	}
	if m.signal != nil && answersAsk(msg.Event) { // a repair's or a refresh's answer
		m.mu.Unlock()
		m.attemptMessage(ctx, msg, src)
		return
	}
	if msg.Event == EventGetAllSessions {
		if since := recentSince(msg.Version); since != 0 {
			// A joiner's catch-up (catchup.go): answered before it is acknowledged, small,
			// so beside a full transfer still served to that member (one it gave up on),
			// in one of catchUpSlots (MaxConcurrentTransfers), one per member at a time: a
			// member's request while its previous one is answered or waits is dropped, so
			// that one member cannot have answers run on every receive worker
			// (TestCatchUpFloodBounded).
			if _, busy := m.catchingUp[src.Key()]; busy {
				m.mu.Unlock()
				m.stats.transfersRefused.Add(1)
				m.cl.refusals.Log(slog.LevelWarn, src.Addr(), "duplicate catch-up request",
					"delta: dropping a catch-up request: one is already answered for this member", "context", m.cfg.Name)
				return
			}
			m.catchingUp[src.Key()] = struct{}{}
			m.wg.Add(1) // under m.mu while running, so never concurrent with Stop's Wait
			m.mu.Unlock()
			defer func() {
				m.mu.Lock()
				delete(m.catchingUp, src.Key())
				m.mu.Unlock()
			}()
			if msg.Version&(AskBack|AskBackReply) == AskBack { // a member back in its view: ask it back (catchup_back.go)
				m.askedBack(src.Key(), since)
			}
			m.serveAll(m.bg, src, &serve{id: replyID(msg, "")}, askOf(msg), since)
			return
		}
		if sv := m.serving[src.Key()]; sv != nil && !sv.completing.Load() {
			m.mu.Unlock()
			m.stats.transfersRefused.Add(1)
			m.cl.refusals.Log(slog.LevelWarn, src.Addr(), "duplicate state transfer request",
				"delta: refusing a state transfer request: one is already running for this member", "context", m.cfg.Name)
			return
		}
		sv := &serve{id: replyID(msg, "")}
		m.serving[src.Key()] = sv
		m.wg.Add(1) // under m.mu while running, so never concurrent with Stop's Wait
		m.mu.Unlock()
		go m.serveAll(m.bg, src, sv, askOf(msg), 0)
		return
	}
	m.mu.Unlock()
	if m.holdForRepair(msg, src) {
		return
	}
	m.dispatchAt(ctx, msg, src, now)
	m.releaseHeld(ctx, msg)
}

// answersAsk reports whether ev answers an EVT_GET_ALL_SESSIONS.
func answersAsk(ev Event) bool {
	return ev == EventAllSessionData || ev == EventTransferComplete || ev == EventNoContextManager
}

// attemptMessage handles the answer of the member asked for every session: a chunk of
// sessions is loaded, the end of the transfer or a refusal goes to the waiting attempt.
// One that answers another request (answersLocked) is ignored. The listeners a chunk's
// load calls (a merge's, a repair's held messages) run once it released m.loadMu
// (deferFires): one that stops the manager does not wait for a goroutine that waits for
// that lock (TestStopFromAMergeListenerReturns).
func (m *Manager) attemptMessage(ctx context.Context, msg *Message, src channel.Member) {
	if msg.Event == EventAllSessionData {
		lctx, fire := m.deferFires(ctx)
		defer fire()
		m.loadChunk(lctx, msg, src)
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.answersLocked(msg, src) {
		m.stats.unexpected.Add(1)
		return
	}
	m.heard.Store(time.Now().UnixNano())
	kind, starting := sigComplete, false
	if msg.Event == EventNoContextManager {
		kind, starting = sigDeclined, msg.SessionID == idNotReady || msg.UniqueID == uniqueNotReady
	} else if m.state == stateTransferring && !m.merging && m.fillIn == nil {
		m.toldRefused.Store(msg.Version) // the donor's count of refused changes (transfer_unsent.go)
	}
	select {
	case m.signal <- transferSignal{kind: kind, ts: msg.Timestamp, starting: starting}:
	default:
	}
}

// loadChunk loads a chunk of sessions that answers the current attempt (attemptMessage),
// holding m.loadMu for reading: the attempt does not end (endAttempt) while it loads.
func (m *Manager) loadChunk(ctx context.Context, msg *Message, src channel.Member) {
	m.loadMu.RLock()
	defer m.loadMu.RUnlock()
	m.mu.Lock()
	current := m.answersLocked(msg, src)
	running, want, refreshing, merging := m.state == stateRunning, m.fillIn, m.refreshing, m.merging
	if current {
		m.heard.Store(time.Now().UnixNano())
	}
	m.mu.Unlock()
	if current {
		m.refusedInChunk(msg, src.Addr(), "received")
	}
	switch {
	case !current:
		m.stats.unexpected.Add(1)
	case merging || running && refreshing:
		m.mergeSessions(ctx, msg.Sessions, running && merging)
	case running:
		m.loadRepaired(ctx, msg)
	default:
		if want == nil {
			// Total is the donor's word: size the table for it only as far as
			// sessions arrive, reserveAhead entries per session received.
			ahead := reserveAhead * (int(m.st.n.Load()) + len(msg.Sessions))
			m.st.reserve(min(msg.Total, ahead), msg.Total <= ahead)
		}
		m.loadSessions(ctx, msg.Sessions, want)
	}
}

// answersLocked reports whether msg from src answers the current attempt's request: src
// is the member asked, and msg echoes no request's id (AskEcho: a node of an earlier
// version, or a request that did not ask) or this one's. An answer echoing another
// request's id is a late one to an earlier request to that member (a catch-up request
// whose wait ended, asked again since): its "transfer complete" would end this request
// as if it were its answer, the joiner missing the sessions of this answer still to
// come (TestCatchUpIgnoresALateAnswerToAnEarlierRequest). m.mu held.
func (m *Manager) answersLocked(msg *Message, src channel.Member) bool {
	if m.signal == nil || src.Key() != m.donor {
		return false
	}
	if echoed(msg.UniqueID) && msg.UniqueID != m.asking {
		m.log.Debug("delta: ignoring an answer to an earlier request", "member", src.Addr(), "event", msg.Event.String())
		return false
	}
	return true
}

// dispatch applies a session message from src in the running state.
func (m *Manager) dispatch(ctx context.Context, msg *Message, src channel.Member) {
	m.dispatchAt(ctx, msg, src, 0)
}

// dispatchAt is dispatch with the time msg was received (Manager.receive), 0 if not
// known.
func (m *Manager) dispatchAt(ctx context.Context, msg *Message, src channel.Member, now int64) {
	switch msg.Event {
	case EventCreated:
		m.handleCreated(ctx, msg)
	case EventExpired:
		// Remembered, so that messages it overtook do not bring the session back; before
		// the lookup, so that a copy such a message makes meanwhile is either found here
		// or finds the record (madeAfterRemoval; expired.go).
		m.noteExpired(msg.SessionID, msg.Version)
		if s := m.targetOf(msg.SessionID); s != nil && m.expiresEarlier(msg, s) {
			m.stats.unknownID.Add(1) // the session it removed is gone already (expired.go)
		} else if s != nil {
			top, cur := s.highestVersion(), s.ID() // before the expiry empties it
			m.noteExpired(msg.SessionID, top)
			if cur != msg.SessionID {
				m.noteExpired(cur, max(top, msg.Version))
			}
			_ = m.expire(ctx, s, false, causeInvalidated, true)
			m.noteRemoved(msg.SessionID, s, top, false) // the cluster removed it (removals.go)
			if cur != msg.SessionID {
				m.noteRemoved(cur, s, top, false) // under the id it was renamed to
			}
		} else {
			m.stats.unknownID.Add(1)
			m.repairExpired(msg.SessionID)
		}
	case EventAccessed:
		if s := m.targetOf(msg.SessionID); s != nil {
			s.accessedElsewhere()
		} else {
			m.stats.unknownID.Add(1)
		}
	case EventDelta:
		m.handleDelta(ctx, msg, originOf(src), now)
	case EventChangeSessionID:
		m.handleChangeID(ctx, msg)
	default:
		m.stats.unexpected.Add(1)
	}
}

// lacks reports whether msg changes a session this node holds under none of the ids it
// names, nor under them with another route (replicaOf): a delta that is not the
// session's first, or an id change. A delta about a copy held under another route lacks
// it too when the copy missed changes before it (its version is more than one behind:
// the rename and the deltas after it were not sent to this node).
func (m *Manager) lacks(msg *Message) bool {
	switch msg.Event {
	case EventDelta:
		if !validID(msg.SessionID) || createsSession(msg.Actions) {
			return false
		}
		s, exact := m.lookup(msg.SessionID, m.st.get)
		if s == nil {
			return m.renamedFrom(msg.SessionID) == nil
		}
		return !exact && s.missed(msg.Version)
	case EventChangeSessionID:
		return validID(msg.NewID) && m.replicaOf(msg.SessionID) == nil && m.st.get(msg.NewID) == nil
	}
	return false
}

func (m *Manager) notifyReplicated() bool { return !m.cfg.SkipListenersOnReplication }

func (m *Manager) handleCreated(ctx context.Context, msg *Message) {
	if !validID(msg.SessionID) {
		m.stats.unexpected.Add(1)
		return
	}
	if m.removedBefore(msg) { // a late EVT_SESSION_CREATED (expired.go)
		m.stats.unknownID.Add(1)
		return
	}
	m.noteRoute(msg.SessionID)
	if msg.Version > 0 {
		m.replaceEarlierSession(ctx, msg)
	}
	s, added := m.st.getOrAdd(msg.SessionID, func() *Session {
		r := newReplica(m, msg.SessionID, msg.Timestamp)
		if msg.Version > 0 {
			r.x().born = msg.Version
		}
		return r
	})
	switch {
	case added:
		s.noteTaken()
		m.fire(ctx, s, true, notice{kind: nCreated})
		m.madeAfterRemoval(ctx, msg, s)
	case s != nil && msg.Version > 0:
		// Its first delta overtook it, and made the copy or applied over the earlier
		// session's copy, whose parts the new session's deltas did not set go.
		m.fire(ctx, s, true, s.shedEarlier(msg.Version)...)
	}
}

func (m *Manager) handleDelta(ctx context.Context, msg *Message, origin uint32, now int64) {
	s := m.targetOf(msg.SessionID)
	if s == nil {
		// The first delta of a session carries isnew=true: a node that missed (or has not
		// yet received) the EVT_SESSION_CREATED creates the session from it.
		if !validID(msg.SessionID) || !createsSession(msg.Actions) {
			m.stats.unknownID.Add(1)
			return
		}
		if m.removedBefore(msg) { // the first delta of a session removed since (expired.go)
			m.stats.unknownID.Add(1)
			return
		}
		m.noteRoute(msg.SessionID)
		var added bool
		s, added = m.st.getOrAdd(msg.SessionID, func() *Session { return newReplica(m, msg.SessionID, msg.Timestamp) })
		if s == nil {
			return // the manager stopped meanwhile
		}
		if added {
			m.fire(ctx, s, true, notice{kind: nCreated})
			if m.madeAfterRemoval(ctx, msg, s) {
				return
			}
		}
	}
	m.fire(ctx, s, true, s.applyDelta(msg, origin, m.notifyReplicated(), now)...)
}

func hasAction(actions []Action, t ActionType) bool {
	for _, a := range actions {
		if a.Type == t {
			return true
		}
	}
	return false
}

func createsSession(actions []Action) bool {
	for _, a := range actions {
		if a.Type == ActionIsNew && a.Op == OpSet && len(a.Value) == 1 && a.Value[0] == 1 {
			return true
		}
	}
	return false
}

// handleChangeID renames the session msg names, held under its old id or under that id
// with another route (replicaOf), to the new id.
func (m *Manager) handleChangeID(ctx context.Context, msg *Message) {
	s := m.replicaOf(msg.SessionID)
	if s == nil {
		m.stats.unknownID.Add(1)
		return
	}
	if !validID(msg.NewID) {
		m.stats.unexpected.Add(1)
		return
	}
	if m.renamedAfterRemoval(ctx, msg, s) {
		return
	}
	m.noteRoute(msg.NewID)
	for {
		old := s.ID()
		if old == msg.NewID {
			return
		}
		ok, taken := m.renameReplica(ctx, s, old, msg.NewID, msg.Version, msg.Timestamp)
		if taken {
			m.dropRenamedCopy(ctx, s, old, msg.NewID)
			return
		}
		if ok {
			m.renamedAfterRemoval(ctx, msg, s) // the expiry may have come meanwhile
			return
		}
		if s.ID() == old {
			return // s no longer held (expired, the manager stopping)
		}
		// renamed concurrently (by this node's binder): rename it from its current id
	}
}

// dropRenamedCopy handles a rename from old to newID that finds newID held already: the
// copy under newID came from a member that had applied the rename (a state transfer's
// snapshot, while the copy under old came from an earlier donor, or a repair's), so the
// copy s under the old id is a name the session no longer has, and it goes (without
// telling the cluster) unless it is newer than the one under newID.
func (m *Manager) dropRenamedCopy(ctx context.Context, s *Session, old, newID string) {
	held := m.st.get(newID)
	if held == nil || held == s || !s.olderThan(held.highestVersion()+1) {
		return
	}
	_ = m.expire(ctx, s, false, causeInvalidated, true)
	m.noteRemoved(old, s, 0, true) // an old name: the session lives on
}

// renameReplica renames s from old to newID as the cluster asks (a rename received, or a
// repair's), telling the listeners; it fails as store.rename does. version is the one a
// rename back raised the session to (0: none), which the copy takes if it missed no
// change before it (raisedTo); at is the rename's time (Message.Timestamp; 0: now), that
// of the id it left (noteLeft).
func (m *Manager) renameReplica(ctx context.Context, s *Session, old, newID string, version uint64, at int64) (ok, taken bool) {
	ok, taken = m.st.rename(old, newID, s)
	if ok {
		m.gone.renamedBack(newID)
		if version > 0 {
			s.raisedTo(version)
		}
		if at <= 0 {
			at = nowMs()
		}
		s.noteLeft(old, newID, at)
		s.noteTaken() // logged under its new id
		m.noteRenamed(old, s)
		m.noteRemoved(old, s, 0, true)
		m.skip(old)
		m.fire(ctx, s, true, notice{kind: nIDChanged, oldID: old})
	}
	return ok, taken
}

func (m *Manager) memberGone(mem channel.Member) {
	m.mu.Lock()
	if m.signal != nil && mem.Key() == m.donor {
		select {
		case m.signal <- transferSignal{kind: sigGone}:
		default:
		}
	}
	m.mu.Unlock()
	if l := m.late.Load(); l != nil {
		l.removed(mem.Key())
	}
	m.memberLeft(mem.Key())
	m.noteView()
}

// refusedInChunk counts the sessions a chunk's codec left out for a field past its
// limits (Message.refused), and logs each it names, and how many more, rate-limited
// per member: received, the joiner's decoder left them out; served, this donor's
// encoder.
func (m *Manager) refusedInChunk(msg *Message, peer, how string) {
	n := msg.refusedCount()
	if n == 0 {
		return
	}
	m.stats.transferSessionsRefused.Add(uint64(n))
	if msg.refusedMore > 0 {
		m.serveLog.Log(slog.LevelWarn, peer, "transfer session refused",
			"delta: more sessions of a state transfer chunk left out for a field past the codec's limits than are named",
			"how", how, "member", peer, "more", msg.refusedMore)
	}
	for _, r := range msg.refused {
		m.serveLog.Log(slog.LevelWarn, peer, "transfer session refused",
			"delta: a session of a state transfer chunk left out for a field past the codec's limits; the rest of the chunk goes on",
			"how", how, "member", peer, "session", fmt.Sprintf("%.64q", r.id), "why", r.why)
	}
}
