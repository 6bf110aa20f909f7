package delta

import (
	"context"
	"slices"
	"time"

	"github.com/gotribes/tribes/channel"
)

// repair asks again for the sessions a state transfer left out.
//
// A donor can leave a session out of its snapshot: Tomcat renames a session (its
// JvmRouteBinderValve, or an EVT_CHANGE_SESSION_ID from another node) by removing it
// from its manager's map and adding it back under the new id, and a snapshot
// (findSessions) taken while a rename runs can lack it under either id. The joiner then holds
// neither id; the rename and the deltas it queued meanwhile are about a session it lacks,
// and without repair it would ignore the session's changes from then on.
//
// Tomcat's protocol has no request for one session, so the joiner, still transferring,
// asks the sender of such a message (the node that renamed or changed the session, which
// holds it) for every session again (EVT_GET_ALL_SESSIONS), keeps from the answer only
// the sessions it lacks, and replays the messages about them in order after it. Each
// member is asked at most once per transfer.
type repair struct {
	m  *Manager
	ts int64 // the transferred state's time

	misses  []queued        // replayed messages about sessions not held
	renamed map[string]bool // old ids of sessions held under their new id
	asked   map[channel.MemberKey]bool
	loaded  map[string]int64 // ids asked for again, with the time of that snapshot
	// expired: ids whose EVT_SESSION_EXPIRED was replayed: not asked for (a member's
	// answer taken before it applied the expiry would bring the session back)
	expired map[string]bool
}

// replayed records a replayed (or dropped as stale) message; missing is whether the
// manager lacked its session (lacks) before.
func (r *repair) replayed(e queued, missing bool) {
	if e.msg.Event == EventExpired {
		if r.expired == nil {
			r.expired = map[string]bool{}
		}
		r.expired[e.msg.SessionID] = true
	}
	if missing {
		r.misses = append(r.misses, e)
		return
	}
	if e.msg.Event == EventChangeSessionID && r.m.st.get(e.msg.NewID) != nil {
		if r.renamed == nil {
			r.renamed = map[string]bool{}
		}
		r.renamed[e.msg.SessionID] = true
	}
}

// pending drops the misses that need no repair (a delta for an id the session was since
// renamed from or that an expiry removed, a sender already asked) and reports whether any
// is left.
func (r *repair) pending() bool {
	r.misses = slices.DeleteFunc(r.misses, func(e queued) bool {
		return r.asked[e.src.Key()] || e.msg.Event == EventDelta && (r.renamed[e.msg.SessionID] || r.expired[e.msg.SessionID])
	})
	return len(r.misses) > 0
}

// round asks the sender of the first miss for every session, loads those named by the
// misses that this node lacks, and queues the misses again, ahead of what arrived
// meanwhile.
func (r *repair) round(ctx context.Context) {
	m := r.m
	donor := r.misses[0].src
	want := map[string]bool{}
	for _, e := range r.misses {
		want[e.msg.SessionID] = true
		if e.msg.NewID != "" {
			want[e.msg.NewID] = true
		}
	}
	if r.asked == nil {
		r.asked = map[channel.MemberKey]bool{}
	}
	r.asked[donor.Key()] = true
	m.stats.repairs.Add(1)
	m.log.Info("delta: the state transfer left out sessions that were changed or renamed meanwhile; asking again",
		"member", donor.Addr(), "sessions", len(want))
	ts, err := m.refetch(ctx, donor, want, false)
	for id := range want {
		m.skip(id)
	}
	if err != nil {
		m.log.Warn("delta: asking again for sessions the state transfer left out failed", "member", donor.Addr(),
			"err", err)
		r.misses = r.misses[:0]
		return
	}
	if r.loaded == nil {
		r.loaded = map[string]int64{}
	}
	for id := range want {
		r.loaded[id] = ts
	}
	m.mu.Lock()
	m.queue = append(r.misses, m.queue...)
	m.mu.Unlock()
	r.misses = nil
}

// tsOf is the time of the snapshot a queued message is compared with (Tomcat's
// stateTimestampDrop): the repair's for the sessions asked for again.
func (r *repair) tsOf(msg *Message) int64 {
	for _, id := range [2]string{msg.SessionID, msg.NewID} {
		if ts, ok := r.loaded[id]; ok && id != "" {
			return ts
		}
	}
	return r.ts
}

// refetch asks donor for every session while the manager is still transferring and loads
// only the sessions in want that it lacks. It returns the time of the donor's snapshot.
func (m *Manager) refetch(ctx context.Context, donor channel.Member, want map[string]bool, removals bool) (int64, error) {
	sig := make(chan transferSignal, 2) // as runTransfer's
	id, ok := m.beginAttempt(donor, sig, want)
	if !ok {
		return 0, ErrStopped
	}
	defer m.endAttempt()
	var deadline <-chan time.Time
	if m.cfg.StateTransferTimeout > 0 {
		t := time.NewTimer(m.cfg.StateTransferTimeout)
		defer t.Stop()
		deadline = t.C
	}
	last := TransferAttempt{Donor: donor}
	ts, err := m.awaitTransfer(ctx, m.asker(ctx, donor, removals, id), sig, deadline, time.Time{}, func() bool { return true }, &last)
	if err == nil {
		err = last.Err
	}
	return ts, err
}

// A running manager repairs too. A member that renamed a session before it listed this
// node (right after this node joined) sent it neither the rename nor the deltas before
// it; the deltas after it are about a session this node holds only under its old id, if
// at all. Such a message (holdForRepair) is held, and the manager asks its sender for
// every session again, keeps from the answer the sessions it lacks that held messages
// name, and applies the messages held about them after loading them, in the order they
// arrived.
//
// The repair runs in rounds, one request for every session at a time (so never two to one
// member at once): the messages that name missing sessions while a round is under way
// wait for its answer, whichever member sent them. When the round is over, a message from
// the member asked that is still about a missing session is given up (handled as without
// a repair: ignored and counted) unless it named the session only after the answer began
// to arrive, when the answer could not have had it; that one, and those of other members,
// wait for the next round, which asks the sender of the oldest. A session is so asked of
// one member at most twice, and an id this node removed or renamed, or gave up on, is not
// asked for again. Each round waits repairSettle first, and a rename or creation applied
// meanwhile applies the messages held about its session: a repair left with nothing held
// asks nobody.

// liveRepair is the repair a running manager has under way (Manager.live): the messages
// held and the round asking one member.
type liveRepair struct {
	donor channel.Member  // the member this round asks
	want  map[string]bool // the ids this round loads: those the held messages name
	late  map[string]bool // of want, the ids first named after the answer's first chunk came
	begun bool            // the answer's first chunk came
	// asking: the round's request is under way (nextRound to endRound); the repair does
	// not end meanwhile, so that no other round starts before it is over.
	asking bool
	held   []queued // the messages about wanted sessions not loaded yet, in arrival order
	// expired: the wanted ids an EVT_SESSION_EXPIRED removed while this node lacked them
	// (repairExpired); an answer that still holds them (its member got the expiry after
	// its snapshot) does not bring them back. Kept across rounds.
	expired map[string]bool
}

// repairExpired records an EVT_SESSION_EXPIRED about id, a session this node lacks: if the
// repair under way wants it, its answer must not load it (the messages held about it are
// given up with the round).
func (m *Manager) repairExpired(id string) {
	if !m.liveOn.Load() {
		return
	}
	m.liveMu.Lock()
	defer m.liveMu.Unlock()
	if r := m.live; r != nil && r.want[id] {
		if r.expired == nil {
			r.expired = map[string]bool{}
		}
		r.expired[id] = true
	}
}

// add adds ids to the round's.
func (r *liveRepair) add(ids []string) {
	for _, id := range ids {
		if !r.want[id] {
			r.want[id] = true
			if r.begun {
				r.late[id] = true
			}
		}
	}
}

// newRound starts a round asking donor for the sessions the held messages name.
func (r *liveRepair) newRound(donor channel.Member) {
	r.donor, r.want, r.late, r.begun = donor, map[string]bool{}, map[string]bool{}, false
	for _, e := range r.held {
		r.add(namedIDs(e.msg))
	}
}

// maxHeld bounds the messages a running manager's repair holds (liveRepair.held): past
// it, a message about a session this node lacks is handled at once (ignored and counted,
// as without a repair), so that a member naming ever new unknown sessions cannot grow
// this node's memory while the answer is awaited.
var maxHeld = 1 << 16 // a variable for the test of the bound

// maxSkipped bounds Manager.skipped: when full it is emptied.
const maxSkipped = 1 << 14

// skip records that id is not to be asked for again: removed or renamed here, or asked for.
func (m *Manager) skip(id string) {
	m.skipMu.Lock()
	defer m.skipMu.Unlock()
	if m.skipped == nil || len(m.skipped) >= maxSkipped {
		m.skipped = map[string]bool{}
	}
	m.skipped[id] = true
}

func (m *Manager) skippedAll(ids []string) bool {
	m.skipMu.Lock()
	defer m.skipMu.Unlock()
	for _, id := range ids {
		if !m.skipped[id] {
			return false
		}
	}
	return true
}

// namedIDs returns the session ids msg names.
func namedIDs(msg *Message) []string {
	if msg.NewID != "" {
		return []string{msg.SessionID, msg.NewID}
	}
	return []string{msg.SessionID}
}

// holdForRepair keeps msg, about a session this node lacks, for a repair, starting one
// with its sender unless one is under way; it reports whether it kept it.
func (m *Manager) holdForRepair(msg *Message, src channel.Member) bool {
	if !m.liveOn.Load() && !m.lacks(msg) {
		return false
	}
	m.liveMu.Lock()
	defer m.liveMu.Unlock()
	return m.holdLocked(msg, src)
}

// holdLocked is holdForRepair with m.liveMu held.
func (m *Manager) holdLocked(msg *Message, src channel.Member) bool {
	if !m.lacks(msg) {
		return false
	}
	ids := namedIDs(msg)
	r := m.live
	if r != nil && len(r.held) >= maxHeld {
		return false
	}
	if r != nil && slices.ContainsFunc(ids, func(id string) bool { return r.want[id] }) {
		r.held = append(r.held, keepMsg(msg, src))
		return true
	}
	if m.skippedAll(ids) {
		return false
	}
	if r == nil {
		m.mu.Lock()
		running := m.state == stateRunning
		if running {
			m.wg.Add(1) // under m.mu while running, so never concurrent with Stop's Wait
		}
		m.mu.Unlock()
		if !running {
			return false
		}
		r = &liveRepair{}
		r.newRound(src)
		m.live = r
		m.liveOn.Store(true)
		go m.runLiveRepair(m.bg, r, repairSettle)
	}
	r.add(ids)
	r.held = append(r.held, keepMsg(msg, src))
	return true
}

// repairSettle is how long a running manager's repair waits before each round. A member
// replicating asynchronously (Tomcat's default channelSendOptions) may send a rename and
// the next delta on different connections, so the delta about the new id can arrive a
// moment before the rename that gives this node the session: the rename applies the
// messages held about it (releaseHeld), and a repair left with nothing held asks nobody
// for every session.
var repairSettle = 200 * time.Millisecond // a variable for the test of the wait

// runLiveRepair runs the rounds of r, the repair m.live, until no message is held: after
// each wait of settle, it asks the sender of the oldest message held.
func (m *Manager) runLiveRepair(ctx context.Context, r *liveRepair, settle time.Duration) {
	defer m.wg.Done()
	t := time.NewTimer(settle)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-ctx.Done():
		}
		donor, ok := m.nextRound(ctx, r)
		if !ok {
			return
		}
		m.stats.repairs.Add(1)
		m.log.Info("delta: messages about sessions this node lacks; asking for the sessions again", "member", donor.Addr())
		m.lockAttempt()
		_, err := m.refetch(ctx, donor, nil, false)
		m.attemptMu.Unlock()
		if err != nil {
			m.log.Warn("delta: asking again for sessions this node lacks failed", "member", donor.Addr(), "err", err)
		}
		m.endRound(r, err)
		m.resendKept(ctx) // the loaded copies' changes sent that the member lacked
		t.Reset(settle)
	}
}

// nextRound applies the messages of r whose session this node holds by now and starts a
// round asking the sender of the oldest message left. With none left, or the manager
// stopping (then every message held is handled as without a repair), it ends r; r ended
// already (releaseHeld) is not started again.
func (m *Manager) nextRound(ctx context.Context, r *liveRepair) (channel.Member, bool) {
	m.liveMu.Lock()
	defer m.liveMu.Unlock()
	if m.live != r {
		return channel.Member{}, false
	}
	m.applyHeldLocked(m.work, ctx.Err() != nil)
	if m.live == nil {
		return channel.Member{}, false
	}
	r.newRound(r.held[0].src)
	r.asking = true
	return r.donor, true
}

// endRound ends the round under way, whose answer came (or failed with err): a message of
// the member asked that is still about a missing session is given up (handled as without
// a repair: ignored and counted, its ids not asked for again) unless it named the session
// only after the answer began to arrive. With no message left, the repair ends.
func (m *Manager) endRound(r *liveRepair, err error) {
	m.liveMu.Lock()
	defer m.liveMu.Unlock()
	r.asking = false
	rest := r.held[:0]
	for _, e := range r.held {
		ids := namedIDs(e.msg)
		if e.src.Key() != r.donor.Key() || !m.lacks(e.msg) ||
			err == nil && slices.ContainsFunc(ids, func(id string) bool { return r.late[id] }) {
			rest = append(rest, e)
			continue
		}
		for _, id := range ids {
			m.skip(id)
		}
		m.dispatch(m.work, e.msg, e.src)
	}
	clear(r.held[len(rest):])
	r.held = rest
	m.endIfDoneLocked()
}

// releaseHeld applies the held messages whose session this node holds now that msg (a
// rename or a creation) was applied, and ends the repair if none is left.
func (m *Manager) releaseHeld(ctx context.Context, msg *Message) {
	if !m.liveOn.Load() || !(msg.Event == EventChangeSessionID || msg.Event == EventCreated ||
		msg.Event == EventDelta && createsSession(msg.Actions)) {
		return
	}
	m.liveMu.Lock()
	defer m.liveMu.Unlock()
	if m.live == nil {
		return
	}
	m.applyHeldLocked(ctx, false)
}

// applyHeldLocked applies, in arrival order, the held messages whose session this node
// holds (all of them with all) and ends the repair if none is left and no round is under
// way. m.liveMu is held.
func (m *Manager) applyHeldLocked(ctx context.Context, all bool) {
	r := m.live
	rest := r.held[:0]
	for _, e := range r.held {
		if !all && m.lacks(e.msg) {
			rest = append(rest, e)
			continue
		}
		m.dispatch(ctx, e.msg, e.src)
	}
	clear(r.held[len(rest):])
	r.held = rest
	m.endIfDoneLocked()
}

// endIfDoneLocked ends the repair m.live if it holds no message and no round is under
// way. m.liveMu is held.
func (m *Manager) endIfDoneLocked() {
	if r := m.live; len(r.held) == 0 && !r.asking {
		m.live = nil
		m.liveOn.Store(false)
	}
}

// renameForRepair renames to id, which a repair is about to load, the copy this node
// holds under id with another route: the session from before a rename this node missed
// (with the changes after it, see lacks), which the loaded state replaces. It reports
// whether it renamed one.
func (m *Manager) renameForRepair(id string) bool {
	s := m.underOtherRoute(id, m.st.get)
	if s == nil {
		return false
	}
	ok, _ := m.renameReplica(context.Background(), s, s.ID(), id, 0, 0)
	return ok
}

// loadRepaired loads, from a chunk answering a running manager's repair, the wanted
// sessions this node lacks, and applies the messages held about them (dropping those
// older than the chunk's snapshot, as a transfer does).
func (m *Manager) loadRepaired(ctx context.Context, chunk *Message) {
	m.liveMu.Lock()
	defer m.liveMu.Unlock()
	r := m.live
	if r == nil {
		return
	}
	r.begun = true
	loaded := map[string]bool{}
	for i := range chunk.Sessions {
		st := &chunk.Sessions[i]
		if !r.want[st.ID] || r.expired[st.ID] || !validID(st.ID) || st.Removed || m.stateRemoved(st) {
			continue
		}
		m.noteRoute(st.ID)
		renamed := m.renameForRepair(st.ID)
		s, added := m.st.getOrAdd(st.ID, func() *Session { return newReplica(m, st.ID, st.CreationTime) })
		if s == nil {
			break // the manager stopped meanwhile
		}
		if !added && !renamed {
			continue
		}
		s.loadTransferred(st)
		s.noteTaken() // for a member back (AskBack): TestTakenThroughAMergeAnswersAMemberBack
		m.loadedAboveRemoval(s, st)
		m.stats.transferred.Add(1)
		loaded[st.ID] = true
	}
	rest := r.held[:0]
	for _, e := range r.held {
		if !slices.ContainsFunc(namedIDs(e.msg), func(id string) bool { return loaded[id] }) {
			rest = append(rest, e)
			continue
		}
		if m.stale(e.msg, chunk.Timestamp) {
			m.dropStale(ctx, e)
			continue
		}
		m.dispatch(ctx, e.msg, e.src)
	}
	clear(r.held[len(rest):])
	r.held = rest
}
