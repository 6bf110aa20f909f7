package delta

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/gotribes/tribes/channel"
)

// A member sends its changes to the members it lists. One whose membership lists a
// joiner late (it has not heard the joiner's heartbeats yet, while the donor has) sends
// the joiner none of the changes it makes meanwhile, and a change that reaches the
// donor after the donor read the session for the joiner is one the joiner gets from
// nobody, though the member's caller was told every member has it (acked replication).
// So a joiner, once its donor's transfer is complete and before it is ready, catches up:
// it asks every other member it lists for the sessions that member sent a message about
// since the joiner started (AskRecent, with that age), and the records of the removals
// and renames it noted since (removals.go), and keeps each copy with the
// higher version, or merges concurrent changes by their stamps, and removes the copies a
// record covers unless they are newer (mergeSessions), as a refresh does. A member that
// does not list the joiner yet refuses the request (FAIL_ACK) and is asked again every
// second while Config.MemberWait lasts, counted from the start, then once the joiner is
// ready until Config.CatchUpWindow (catchup_late.go); once it lists the joiner, every
// change it makes goes to the joiner too, and its answer holds those it made before. The donor is not asked: it listed the joiner
// when it took the snapshot, so its own changes since went to the joiner. Messages that
// arrive meanwhile are queued, as during the transfer. BinaryCodec only: a Tomcat member
// would send every session, and Tomcat's deltas carry no versions to merge by.

// catchUpSlack widens the window a catch-up asks for beyond the joiner's age: a change
// made just before the joiner started can still have been on its way to the donor when
// the donor read its sessions.
const catchUpSlack = 2 * time.Second

// recentSince returns the time (unix ms) from which an EventGetAllSessions whose Version
// is ask wants the sessions sent about (AskRecent), 0 for every session.
func recentSince(ask uint64) int64 {
	if ask&AskRecent == 0 {
		return 0
	}
	age := min(ask>>AskAgeShift, uint64(time.Now().UnixMilli()))
	return max(nowMs()-int64(age), 1)
}

// servedAsk returns the bits of a request (an EventGetAllSessions' Version) the answer
// follows: those of a catch-up (AskRecent) from AskAgeShift up are its age, never
// AskLeft, however old the age a member sends (TestCatchUpAgeIsNeverAskLeft); its
// AskRecentLeft is AskLeft.
func servedAsk(v uint64) uint64 {
	if v&AskRecent == 0 {
		return v
	}
	if v &^= AskLeft; v&AskRecentLeft != 0 {
		v = v&^AskRecentLeft | AskLeft
	}
	return v
}

// askOf returns the bits of the request msg the answer follows (servedAsk), with
// askLeftAt when it asks for the left ids' times (leftAtAsk) besides the ids.
func askOf(msg *Message) uint64 {
	v := servedAsk(msg.Version) &^ askLeftAt
	if msg.NewID == leftAtAsk && v&AskLeft != 0 {
		v |= askLeftAt
	}
	return v
}

// markSent records that a message about s is being sent from here.
func (s *Session) markSent() {
	s.mu.Lock()
	s.noteSentLocked(nowMs())
	s.mu.Unlock()
}

// catchUp asks every member but donor for the sessions it sent a message about since
// start (see above). settle is the end of Config.MemberWait, deadline the transfer's. It
// returns the error that ends the transfer (timeout, stop); a member that runs no
// session manager or has none for this context is skipped. One that still refuses the
// request once settle is past, or whose request failed, is left to the late catch-up
// (catchup_late.go), as are the members added from now on. Without one
// (Config.CatchUpWindow negative), a member whose request failed is asked again as one
// that refuses while it is listed, until settle, then skipped with a warning.
func (m *Manager) catchUp(ctx context.Context, donor channel.Member, start, settle time.Time, deadline <-chan time.Time) error {
	if _, ok := m.cl.codec.(batchCodec); !ok {
		return nil
	}
	m.askFails.reset()
	l := m.openLate(start, donor)
	for _, mem := range m.cl.ch.Members() {
		if mem.Key() == donor.Key() {
			continue
		}
		out, err := m.catchUpFrom(ctx, mem, start, settle, deadline, l == nil)
		switch {
		case err != nil:
			return err
		case out == askDone:
			l.asked(mem.Key(), false)
		case l != nil && out == askRefused:
			m.log.Info("delta: a member still refuses the catch-up request once MemberWait is over: it does not "+
				"list this node yet, or runs no session manager; asking it again once ready", "member", mem.Addr(),
				"upTo", time.Until(l.until).Round(time.Millisecond))
			l.asked(mem.Key(), true)
		case l != nil:
			m.log.Info("delta: asking a member whose catch-up request failed again once ready", "member", mem.Addr(),
				"upTo", time.Until(l.until).Round(time.Millisecond))
			l.asked(mem.Key(), true)
		case out == askRefused:
			m.log.Warn("delta: could not catch up with a member: it refused the request", "member", mem.Addr())
		default:
			m.log.Warn("delta: could not catch up with a member: its requests failed until MemberWait was over, "+
				"or it left (CatchUpWindow is negative: it is not asked again)", "member", mem.Addr(),
				"failedRequests", m.askFails.count(mem.Key()))
		}
	}
	return nil
}

// catchUpFrom is catchUp's request to one member, asked again every askAgainAfter while
// it refuses it (FAIL_ACK) until settle, and with retryFailed while its request fails and
// it is listed; the outcome is the last request's.
func (m *Manager) catchUpFrom(ctx context.Context, mem channel.Member, start, settle time.Time,
	deadline <-chan time.Time, retryFailed bool) (askOutcome, error) {
	for {
		out, err := m.askOnce(ctx, mem, start, deadline)
		switch {
		case err != nil || out == askDone || !time.Now().Before(settle):
			return out, err
		case out == askFailed && !retryFailed:
			return out, nil
		case out == askFailed:
			if _, listed := m.cl.ch.Member(mem.Key()); !listed {
				return out, nil
			}
		}
		// It does not list this node yet, runs no session manager, or was not reached: ask
		// again.
		t := time.NewTimer(askAgainAfter)
		select {
		case <-t.C:
		case <-deadline:
			t.Stop()
			return askDone, ErrStateTransferTimeout
		case <-ctx.Done():
			t.Stop()
			return askDone, ErrStopped
		}
	}
}

// askOnce is askRecent in an attempt of its own (beginMerge), so that a signal a failed
// request's attempt still got (a loss reported after its member left) does not end the
// next request.
func (m *Manager) askOnce(ctx context.Context, mem channel.Member, start time.Time,
	deadline <-chan time.Time) (askOutcome, error) {
	sig := make(chan transferSignal, 2) // as runTransfer's
	id, ok := m.beginMerge(mem, sig)
	if !ok {
		return askDone, ErrStopped
	}
	defer m.endAttempt()
	return m.askRecent(ctx, mem, sig, id, start, deadline, 0)
}

// askOutcome is how a catch-up's request to a member ended.
type askOutcome uint8

const (
	askDone    askOutcome = iota // answered, or acknowledged or declined: nothing more to give
	askRefused                   // FAIL_ACK: it does not list this node yet, or runs no session manager
	askFailed                    // not sent, no answer, a message of the answer lost, or the member left
)

// askRecent asks mem once, for the attempt whose outcome goes to sig and whose request's
// id is id (beginMerge), for the sessions it sent a message about since start, and waits
// for its answer, which echoes id (AskEcho; receive.go ignores one to an earlier request). A Go
// member of this version answers it before it acknowledges it (Manager.receive serves it
// inline), so an ACK with no answer before it is a member with nothing to give: one that
// runs no session manager for this context but acknowledges what it does not handle, or
// a Go node of an earlier version (its answer, if any, comes after and is ignored). An
// ack timeout means the member is still answering: its answer is waited for, up to
// Config.TransferIdleTimeout. askRefused reports a FAIL_ACK (it does not list this node
// yet, or runs no session manager), askFailed a request that failed otherwise (a send
// error, no answer, a message of the answer lost, the member gone); err ends the transfer
// (deadline, stop).
func (m *Manager) askRecent(ctx context.Context, mem channel.Member, sig <-chan transferSignal, id string,
	start time.Time, deadline <-chan time.Time, extra uint64) (askOutcome, error) {
	age := uint64((time.Since(start) + catchUpSlack).Milliseconds())
	err := m.sendTo(ctx, []channel.Member{mem}, &Message{Event: EventGetAllSessions, SessionID: idGetAll,
		UniqueID: id, Timestamp: nowMs(), NewID: leftAtAsk,
		Version: extra | AskStamps | AskBorn | AskMetaStamps | AskEcho | AskRecent | AskRecentLeft | age<<AskAgeShift}, askOpts)
	var wait <-chan time.Time // for an answer still coming
	switch {
	case ctx.Err() != nil:
		return askDone, ErrStopped
	case err == nil:
		select {
		case s := <-sig:
			return m.caughtUp(mem, s), nil
		default:
			m.log.Info("delta: a member acknowledged the catch-up request without answering it: "+
				"it runs no session manager for this context, or an earlier version", "member", mem.Addr())
		}
		return askDone, nil
	case errors.Is(err, channel.ErrAckFailed):
		return askRefused, nil
	case errors.Is(err, channel.ErrAckTimeout) && m.cfg.TransferIdleTimeout > 0:
		t := time.NewTimer(m.cfg.TransferIdleTimeout)
		defer t.Stop()
		wait = t.C
	default:
		m.askFailed(slog.LevelWarn, mem, "delta: could not catch up with a member: it refused or did not answer the request",
			"err", err)
		return askFailed, nil
	}
	select {
	case s := <-sig:
		return m.caughtUp(mem, s), nil
	case <-wait:
		m.askFailed(slog.LevelWarn, mem, "delta: could not catch up with a member: no answer",
			"waited", m.cfg.TransferIdleTimeout)
		return askFailed, nil
	case <-deadline:
		return askDone, ErrStateTransferTimeout
	case <-ctx.Done():
		return askDone, ErrStopped
	}
}

// caughtUp logs and counts the outcome s of a catch-up's request to mem, and returns it:
// askFailed when a message of the answer was lost or mem left.
func (m *Manager) caughtUp(mem channel.Member, s transferSignal) askOutcome {
	switch s.kind {
	case sigComplete:
		m.stats.catchUps.Add(1)
		m.log.Info("delta: caught up with a member", "member", mem.Addr(),
			"failedBefore", m.askFails.count(mem.Key()))
	case sigLost:
		m.askFailed(slog.LevelWarn, mem, "delta: could not catch up with a member: a message of its answer was lost",
			"err", s.err)
		return askFailed
	case sigGone:
		m.askFailed(slog.LevelInfo, mem, "delta: could not catch up with a member: it left")
		return askFailed
	default: // it has no manager for this context
	}
	return askDone
}

// beginMerge is beginAttempt for a catch-up: the chunks from mem are merged into the
// copies held (mergeSessions), not loaded over them. A running manager merges them too
// (a late catch-up, catchup_late.go). id is the attempt's request's own (askID): only an
// answer echoing it, or none (a member of an earlier version), is taken for its answer.
func (m *Manager) beginMerge(mem channel.Member, sig chan transferSignal) (id string, ok bool) {
	m.loadMu.Lock()
	defer m.loadMu.Unlock()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.state != stateTransferring && m.state != stateRunning {
		return "", false
	}
	id = m.askID()
	m.donor, m.signal, m.fillIn, m.merging, m.asking = mem.Key(), sig, nil, true, id
	return id, true
}

// askID returns an id for a request of its own (a catch-up's, or with BinaryCodec any
// request for every session: beginAttempt): "GET-ALL-", the context's name, "#" and a
// random number (echoed: no other request of this node, nor of an earlier run, has it).
func (m *Manager) askID() string {
	return idGetAll + "-" + m.cfg.Name + "#" + strconv.FormatUint(rand.Uint64(), 36)
}

// askFailures counts a joiner's failed catch-up requests per member. A member listed but
// unreachable is asked again every second for Config.CatchUpWindow: its first failure is
// logged at the level given, the others at debug level, and the window's end (runLate)
// or the catch-up's (catchUp, no window) sums them up.
type askFailures struct {
	mu sync.Mutex
	n  map[channel.MemberKey]failCount
}

// failCount is how many requests to a member failed, and its address.
type failCount struct {
	n    int
	addr string
}

// add counts a failed request to mem and returns how many there were.
func (f *askFailures) add(mem channel.Member) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.n == nil {
		f.n = map[channel.MemberKey]failCount{}
	}
	c := f.n[mem.Key()]
	c.n++
	c.addr = mem.Addr()
	f.n[mem.Key()] = c
	return c.n
}

// count returns how many requests to k failed.
func (f *askFailures) count(k channel.MemberKey) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.n[k].n
}

// all returns a copy of the counts.
func (f *askFailures) all() map[channel.MemberKey]failCount {
	f.mu.Lock()
	defer f.mu.Unlock()
	return maps.Clone(f.n)
}

// forget forgets the failures counted for k (a member back in view is done with:
// catchup_back.go).
func (f *askFailures) forget(k channel.MemberKey) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.n, k)
}

// reset forgets the failures counted (a new catch-up).
func (f *askFailures) reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	clear(f.n)
}

// askFailed counts a failed catch-up request to mem and logs msg with args: at level
// the first time for mem, at debug level after.
func (m *Manager) askFailed(level slog.Level, mem channel.Member, msg string, args ...any) {
	n := m.askFails.add(mem)
	if n > 1 {
		level = slog.LevelDebug
	}
	m.log.Log(context.Background(), level, msg, append([]any{"member", mem.Addr(), "failures", n}, args...)...)
}
