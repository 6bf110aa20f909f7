package delta

import (
	"context"
	"maps"
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
}

// replayed records a replayed (or dropped as stale) message; missing is whether the
// manager lacked its session (lacks) before.
func (r *repair) replayed(e queued, missing bool) {
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
// renamed from, a sender already asked) and reports whether any is left.
func (r *repair) pending() bool {
	r.misses = slices.DeleteFunc(r.misses, func(e queued) bool {
		return r.asked[e.src.Key()] || e.msg.Event == EventDelta && r.renamed[e.msg.SessionID]
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
	ts, err := m.refetch(ctx, donor, want)
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
func (m *Manager) refetch(ctx context.Context, donor channel.Member, want map[string]bool) (int64, error) {
	sig := make(chan transferSignal, 2) // as runTransfer's
	if !m.beginAttempt(donor, sig, want) {
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
	ts, err := m.awaitTransfer(ctx, m.asker(ctx, donor), sig, deadline, time.Time{}, func() bool { return true }, &last)
	if err == nil {
		err = last.Err
	}
	return ts, err
}

// A running manager repairs too. A member that renamed a session before it listed this
// node (right after this node joined) sent it neither the rename nor the deltas before
// it; the deltas after it are about a session this node holds only under its old id, if
// at all. Such a message (holdForRepair) makes the manager ask its sender for every
// session again and keep, from the answer, the sessions it lacks that messages named
// meanwhile; those messages wait for the answer and are applied after the session is
// loaded, in the order they arrived. An id this node removed or renamed, or already asked
// for, is not asked for again.

// liveRepair is the repair a running manager has under way (Manager.live).
type liveRepair struct {
	want  map[string]bool // the ids to load
	asked map[string]bool // want when the first chunk arrived: the ids the answer can have
	held  []queued        // the messages about wanted sessions not loaded yet, in arrival order
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
		r.held = append(r.held, queued{msg: msg, src: src})
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
		r = &liveRepair{want: map[string]bool{}}
		m.live = r
		m.liveOn.Store(true)
		go m.runLiveRepair(m.bg, src)
	}
	for _, id := range ids {
		r.want[id] = true
	}
	r.held = append(r.held, queued{msg: msg, src: src})
	return true
}

// runLiveRepair asks donor for every session and then ends the repair.
func (m *Manager) runLiveRepair(ctx context.Context, donor channel.Member) {
	defer m.wg.Done()
	m.stats.repairs.Add(1)
	m.log.Info("delta: messages about sessions this node lacks; asking for the sessions again", "member", donor.Addr())
	if _, err := m.refetch(ctx, donor, nil); err != nil {
		m.log.Warn("delta: asking again for sessions this node lacks failed", "member", donor.Addr(), "err", err)
	}
	m.liveMu.Lock()
	r := m.live
	m.live = nil
	m.liveOn.Store(false)
	asked := r.asked
	if asked == nil { // no answer: do not ask for them again either
		asked = r.want
	}
	for id := range asked {
		m.skip(id)
	}
	// Messages about sessions named only after the answer came start another repair;
	// the others are applied (about a session still lacking, they are counted).
	var rest []queued
	for _, e := range r.held {
		if ctx.Err() != nil || !m.holdLocked(e.msg, e.src) {
			rest = append(rest, e)
		}
	}
	m.liveMu.Unlock()
	for _, e := range rest {
		m.dispatch(e.msg)
	}
}

// loadRepaired loads, from a chunk answering a running manager's repair, the wanted
// sessions this node lacks, and applies the messages held about them (dropping those
// older than the chunk's snapshot, as a transfer does).
func (m *Manager) loadRepaired(chunk *Message) {
	m.liveMu.Lock()
	defer m.liveMu.Unlock()
	r := m.live
	if r == nil {
		return
	}
	if r.asked == nil {
		r.asked = maps.Clone(r.want)
	}
	loaded := map[string]bool{}
	for i := range chunk.Sessions {
		st := &chunk.Sessions[i]
		if !r.asked[st.ID] || !validID(st.ID) {
			continue
		}
		m.noteRoute(st.ID)
		s, added := m.st.getOrAdd(st.ID, func() *Session { return newReplica(m, st.ID, st.CreationTime) })
		if !added {
			continue
		}
		s.loadTransferred(st)
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
			m.stats.droppedStale.Add(1)
			continue
		}
		m.dispatch(e.msg)
	}
	clear(r.held[len(rest):])
	r.held = rest
}
