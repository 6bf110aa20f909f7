package delta

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/gotribes/tribes/channel"
)

// A rename whose EVT_CHANGE_SESSION_ID did not reach every member (ChangeSessionID, the
// middleware's jvmRoute binder) leaves the session renamed here, while the members that
// missed the message hold it under its old id: a request with the new cookie there finds
// no session, one with the old cookie the session this node renamed against fixation.
// Like a failed EVT_SESSION_ACCESSED (sendFailed), the rename goes out again before the
// session's next message: its Replicate, ChangeSessionID or expiry; failing again, it
// stays to be sent, and the message after it goes out all the same. The session keeps,
// for each member a rename failed for, the ids that member may still hold it under:
// the id before the first rename it missed (the members a *channel.SendError names; for
// a failure naming none, every member listed then, or, with none listed, any member),
// and, when a failed send may have reached it (not a connect failure: its
// acknowledgement or connection lost after the write), the id of each later rename it
// missed meanwhile, since it may have taken the one before
// (TestMemberTakingAFailedRenameThenMissingOneIsRenamedOn). A member whose failures
// were all connect failures has one id, however many renames it missed; the ids of one
// member are bounded by maxHeldPerMember (TestHeldIDsPerMemberBounded). The resend
// renames each such id straight to the session's id then, one message for all the
// renames in between (a Tomcat node follows it as any EVT_CHANGE_SESSION_ID): no rename
// is refused (TestNinthRenameDoneWhileEightUnsent,
// TestMemberMissingNineRenamesHoldsTheCurrentIDOnly). Members that hold another id
// ignore it; a member the resend fails for keeps its id, the others are done with
// (TestTwoPartlyFailedRenamesReachEveryMember). An asynchronous request (the
// middleware's, with an asyncQueue) queues them before its delta without waiting for
// their send (queueUnsentRename).
//
// A member listed only after the failure is sent nothing for it (a state transfer or a
// catch-up gives it the session under its id then).

// heldID is an id a member may still hold a session under.
type heldID struct {
	member channel.MemberKey
	any    bool // every member: the failure named none, and none was listed
	// id: "" for the session's current id, recorded beside a member's other ids when a
	// failed send may have reached it (its acknowledgement lost), so that a rename it
	// then misses leaves the id it renamed from among those it may hold
	id string
}

// queuedRenames is the outcome of the resends an asynchronous request queued: done gets
// one result for each of them; n counts those not read yet, errs the failures read.
type queuedRenames struct {
	done chan error
	n    int
	errs []error
}

// wait returns the resends' outcome once every one is known, or ctx's error first (the
// results read so far are kept for the next wait).
func (q *queuedRenames) wait(ctx context.Context) error {
	for ; q.n > 0; q.n-- {
		select {
		case err := <-q.done:
			if err != nil {
				q.errs = append(q.errs, err)
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return errors.Join(q.errs...)
}

// known reports whether every resend's outcome arrived.
func (q *queuedRenames) known() bool { return len(q.done) >= q.n }

// renameRetry is what a session keeps of its renames that failed to reach every member.
type renameRetry struct {
	// held: for each member a rename missed, the id it may still hold the session
	// under, in the order of the renames
	held []heldID
	// queued: the outcome of ids' resends queued by an asynchronous request
	// (queueUnsentRename), nil when none is on its way
	queued *queuedRenames
	// raised: the last version a rename back raised the session to (raiseAbove, raise)
	// since a rename failed, 0 if none: the resends carry it (unsentRenameMessages). Kept
	// here, not in every Session (TestSessionSizeClass).
	raised uint64
}

// noteRaised records raised, the version a rename raised s to (0: none), for the
// resends of the renames still unsent, if any. The caller holds s.sendMu.
func (s *Session) noteRaised(raised uint64) {
	if raised > 0 && s.retry != nil {
		s.retry.raised = raised
	}
}

// unsentIDs returns the ids members may still hold s under, each once, oldest first.
// The caller holds s.sendMu.
func (s *Session) unsentIDs() []string {
	if s.retry == nil {
		return nil
	}
	var ids []string
	for _, h := range s.retry.held {
		if h.id != "" && !slices.Contains(ids, h.id) {
			ids = append(ids, h.id)
		}
	}
	return ids
}

// setHeld records held as the ids members may still hold s under. The caller holds
// s.sendMu.
func (s *Session) setHeld(held []heldID) {
	if s.retry == nil {
		if len(held) == 0 {
			return
		}
		s.retry = &renameRetry{}
	}
	s.retry.held = held
	if len(held) == 0 && s.retry.queued == nil {
		s.retry = nil
	}
}

// heldIDs returns what setHeld recorded. The caller holds s.sendMu.
func (s *Session) heldIDs() []heldID {
	if s.retry == nil {
		return nil
	}
	return s.retry.held
}

// queuedRenames returns the resends an asynchronous request queued, nil if none. The
// caller holds s.sendMu.
func (s *Session) queuedRenames() *queuedRenames {
	if s.retry == nil {
		return nil
	}
	return s.retry.queued
}

// setQueuedRenames records q as queuedRenames. The caller holds s.sendMu.
func (s *Session) setQueuedRenames(q *queuedRenames) {
	if s.retry == nil {
		if q == nil {
			return
		}
		s.retry = &renameRetry{}
	}
	s.retry.queued = q
	if q == nil && len(s.retry.held) == 0 {
		s.retry = nil
	}
}

// maxHeldPerMember bounds the ids kept for one member: an id is added only by a failure
// that may have sent the rename (its ACK lost) while the member may have held the
// session's id, so it takes a run of such failures to reach it; beyond it the ids
// after the first are forgotten, oldest first, the first (the id before any rename the
// member missed: the id a client had before logging in) kept.
const maxHeldPerMember = 8

// missed is a member a send failed for; sure when the message was never sent to it (no
// connection could be opened, none lost), so it cannot have taken it.
type missed struct {
	key  channel.MemberKey
	sure bool
}

// missedMembers returns the members err says a send failed for, with listed standing
// for every member when err names none.
func missedMembers(err error, listed []channel.Member) []missed {
	var out []missed
	for _, f := range channel.FaultyMembers(err) {
		sure := errors.Is(f.Err, channel.ErrConnect) && !errors.Is(f.Err, channel.ErrConnectionLost)
		out = append(out, missed{key: f.Member.Key(), sure: sure || neverSent(err)})
	}
	if len(out) > 0 {
		return out
	}
	for _, m := range listed {
		out = append(out, missed{key: m.Key(), sure: neverSent(err)})
	}
	return out
}

// missedKeys returns the members err says a send failed for; ok is false when it names
// none (an error of another kind).
func missedKeys(err error) (keys []channel.MemberKey, ok bool) {
	for _, f := range missedMembers(err, nil) {
		keys = append(keys, f.key)
	}
	return keys, len(keys) > 0
}

// holds reports whether held records for member k the id (id "" for the session's
// current id, which a member that may hold an earlier one may hold too).
func holds(held []heldID, k channel.MemberKey, id string) bool {
	return slices.ContainsFunc(held, func(h heldID) bool { return !h.any && h.member == k && h.id == id })
}

// memberHeld reports whether held records member k at all.
func memberHeld(held []heldID, k channel.MemberKey) bool {
	return slices.ContainsFunc(held, func(h heldID) bool { return !h.any && h.member == k })
}

// tidy drops the members left with the current id alone ("" only: in step) and bounds
// each member's ids by maxHeldPerMember.
func tidy(held []heldID) []heldID {
	held = slices.DeleteFunc(held, func(h heldID) bool {
		return !h.any && h.id == "" && !slices.ContainsFunc(held, func(o heldID) bool {
			return !o.any && o.member == h.member && o.id != ""
		})
	})
	for i := 0; i < len(held); i++ {
		h := held[i]
		if h.any || h.id == "" {
			continue
		}
		n := 0
		first := -1
		for j, o := range held {
			if !o.any && o.member == h.member && o.id != "" {
				if first < 0 {
					first = j
				}
				n++
			}
		}
		if n > maxHeldPerMember && i != first {
			held = slices.Delete(held, i, i+1)
			i--
		}
	}
	return held
}

// noteUnsentRename records that the rename of s from old failed with err, listed being
// the members then: those it failed for may hold s under old, if they may have held it
// before (none of their earlier renames failed, or one may have reached them, its
// acknowledgement lost); a member that may have taken it may hold the new id too. The
// caller holds s.sendMu.
func (s *Session) noteUnsentRename(old string, err error, listed []channel.Member) {
	ms := missedMembers(err, listed)
	held := slices.Clone(s.heldIDs())
	if len(ms) == 0 {
		if !slices.ContainsFunc(held, func(h heldID) bool { return h.any }) {
			held = append(held, heldID{any: true, id: old})
		}
		s.setHeld(held)
		return
	}
	for _, f := range ms {
		k := f.key
		if !memberHeld(held, k) || holds(held, k, "") {
			if !holds(held, k, old) {
				held = append(held, heldID{member: k, id: old})
			}
			held = slices.DeleteFunc(held, func(h heldID) bool { return !h.any && h.member == k && h.id == "" })
			if !f.sure {
				held = append(held, heldID{member: k})
			}
		}
	}
	s.setHeld(tidy(held))
}

// unsentRenameMessages returns the renames to send again, one for each id a member may
// hold s under, from it to s's current id. The caller holds s.sendMu.
func (s *Session) unsentRenameMessages() []*Message {
	cur := s.ID()
	// Renamed back to the id a member holds: nothing to send it.
	held := slices.Clone(s.heldIDs())
	for i, h := range held {
		if h.id == cur {
			held[i].id = ""
		}
	}
	held = slices.DeleteFunc(held, func(h heldID) bool { return h.any && h.id == "" })
	s.setHeld(tidy(dedupe(held)))
	now := nowMs()
	// A member that missed a rename back takes the version it raised the session to, as
	// the first send would have given it (rename.go): else its copy stays at the version
	// of the record of the rename away, which a node that missed the rename back still
	// holds (removal.back; TestResentRenameBackCarriesItsVersion). The last raise is
	// given: the copy takes it only if it holds every change below it (raisedTo).
	var raised uint64
	if s.retry != nil {
		raised = s.retry.raised
	}
	var msgs []*Message
	for _, id := range s.unsentIDs() {
		msgs = append(msgs, &Message{Event: EventChangeSessionID, SessionID: id, NewID: cur, Timestamp: now, Version: raised})
	}
	return msgs
}

// dedupe drops repeated entries of held.
func dedupe(held []heldID) []heldID {
	var out []heldID
	for _, h := range held {
		if !slices.Contains(out, h) {
			out = append(out, h)
		}
	}
	return out
}

// resent records the outcome err of the resend renaming s from id: the members it failed
// for keep id (all of them, if err names none), those it may have reached holding the
// current id too; the others are done with id; any member keeps it after any failure.
// The caller holds s.sendMu.
func (s *Session) resent(id string, err error) {
	held := slices.Clone(s.heldIDs())
	var ms []missed
	if err != nil {
		if ms = missedMembers(err, nil); len(ms) == 0 {
			// Naming no member: each may have taken it, or not.
			for _, h := range held {
				if !h.any && h.id == id {
					ms = append(ms, missed{key: h.member, sure: neverSent(err)})
				}
			}
			if slices.ContainsFunc(held, func(h heldID) bool { return h.any && h.id == id }) {
				return
			}
		}
	}
	var kept []heldID
	for _, h := range held {
		if h.id != id {
			kept = append(kept, h)
			continue
		}
		if h.any {
			if err != nil {
				kept = append(kept, h)
			}
			continue
		}
		i := slices.IndexFunc(ms, func(f missed) bool { return f.key == h.member })
		if i >= 0 {
			kept = append(kept, h)
		}
		if i < 0 || !ms[i].sure {
			kept = append(kept, heldID{member: h.member}) // it may hold the current id
		}
	}
	s.setHeld(tidy(dedupe(kept)))
}

// resentUnknown records that resends of s's ids failed without saying for which
// members: each member may still hold its ids, or have taken one and hold the current
// id. The caller holds s.sendMu.
func (s *Session) resentUnknown() {
	held := slices.Clone(s.heldIDs())
	for _, h := range s.heldIDs() {
		if !h.any && h.id != "" && !holds(held, h.member, "") {
			held = append(held, heldID{member: h.member})
		}
	}
	s.setHeld(held)
}

// sendUnsentRename sends s's renames again if some failed to reach every member. The
// caller holds s.sendMu. On failure they stay to be sent, and so does an access
// (sendFailed). A resend an asynchronous request queued is waited for first.
func (m *Manager) sendUnsentRename(ctx context.Context, s *Session) error {
	if q := s.queuedRenames(); q != nil {
		err := q.wait(ctx)
		if q.n > 0 {
			// Their outcome unknown, they are given up (done is buffered: the queue
			// never blocks on it): each may have reached a member or not, and what
			// comes next (a rename) must not be cleared by their late success.
			s.setQueuedRenames(nil)
			s.resentUnknown()
			s.sendFailed()
			return fmt.Errorf("delta: replicating id changes of session %s again: %w", s.ID(), err)
		}
		s.setQueuedRenames(nil)
		if err == nil {
			m.renameResent(s)
			return nil
		}
	}
	var errs []error
	for _, msg := range s.unsentRenameMessages() {
		err := m.broadcast(ctx, msg)
		s.resent(msg.SessionID, err)
		if err != nil {
			errs = append(errs, fmt.Errorf("delta: replicating id change %s -> %s again: %w", msg.SessionID, msg.NewID, err))
		} else {
			m.noteRemoved(msg.SessionID, s, 0, true)
		}
	}
	if len(errs) > 0 {
		s.sendFailed()
		return errors.Join(errs...)
	}
	return nil
}

// renameUnsentFrom reports whether a session this node renamed from id may still be
// held under id by members its rename did not reach. It is called with the new session
// under id added (create): a rename from id ran before that, and the session's send slot
// is held from before its rename until its failure is noted.
func (m *Manager) renameUnsentFrom(id string) bool {
	s := m.renamedFrom(id)
	if s == nil {
		return false
	}
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	return slices.Contains(s.unsentIDs(), id)
}

// renameResent records that s's renames reached the members. The caller holds s.sendMu.
func (m *Manager) renameResent(s *Session) {
	cur := s.ID()
	for _, old := range s.unsentIDs() {
		if old != cur {
			m.noteRemoved(old, s, 0, true)
		}
	}
	s.setHeld(nil)
}

// queueUnsentRename is sendUnsentRename for an asynchronous request (the middleware's,
// with the manager's asyncQueue): the renames are queued, before the request's delta,
// and the request does not wait for them (TestUnsentRenameDoesNotHoldTheAsyncRequest);
// the session's next message reads their outcome, and sends them again if one failed.
// The caller holds s.sendMu.
func (m *Manager) queueUnsentRename(s *Session) {
	if q := s.queuedRenames(); q != nil {
		if !q.known() {
			return // on their way: what the session sends next leaves after them
		}
		s.setQueuedRenames(nil)
		if err := q.wait(context.Background()); err == nil {
			m.renameResent(s)
			return
		}
		s.resentUnknown()
		s.sendFailed()
	}
	msgs := s.unsentRenameMessages()
	if len(msgs) == 0 {
		return
	}
	q := &queuedRenames{done: make(chan error, len(msgs)), n: len(msgs)}
	for _, msg := range msgs {
		m.async.add(queuedMsg{msg: msg, done: q.done})
	}
	s.setQueuedRenames(q)
}
