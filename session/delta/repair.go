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
	sig := make(chan transferSignal, 1)
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
