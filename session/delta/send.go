package delta

import (
	"context"
	"errors"
	"fmt"

	"github.com/gotribes/tribes/channel"
)

// Create makes a new session with a fresh id, primary on this node, and tells the
// cluster (EVT_SESSION_CREATED), then the session listeners. A failure to tell the
// cluster is logged, not returned: the session's first delta also creates it on nodes
// that missed the message. A manager not running refuses with an error wrapping
// ErrStopped that says whether Start was not called yet or it stopped
// (TestCreateBeforeStartSaysSo).
func (m *Manager) Create(ctx context.Context) (*Session, error) {
	return m.create(ctx, "")
}

// CreateWithID is Create with an id chosen by the caller (Tomcat's
// createSession(sessionId)), for stores whose ids come from elsewhere, such as the tokens
// of alexedwards/scs (session/scsstore). The id is used as it is, without the jvmRoute;
// as in the ids Create makes, a '.' starts a route: the removal records (ClusterSize)
// take ids that differ only after it for one session. It must be 1 to 256 characters
// from [A-Za-z0-9._-] (ErrInvalidSessionID otherwise). An id a session holds here is
// refused with ErrSessionIDInUse (one that timed out is expired first, as the sweep
// would), and so, with Config.ClusterSize, is one whose session was removed (invalidated
// or expired) so recently that the cluster still keeps its record: a refresh would
// remove the new session with the old. So is the old id of a session renamed here whose
// rename did not reach every member yet (rename_unsent.go): they hold that session under
// it, and would take the new session's changes for its.
func (m *Manager) CreateWithID(ctx context.Context, id string) (*Session, error) {
	if !validID(id) {
		return nil, fmt.Errorf("%w: %q", ErrInvalidSessionID, id)
	}
	return m.create(ctx, id)
}

// create is Create with id, or a fresh id when id is empty.
func (m *Manager) create(ctx context.Context, id string) (*Session, error) {
	if !m.running() {
		return nil, m.notRunning()
	}
	now := nowMs()
	var s *Session
	var start uint64 // the version of a session of that id removed lately (expired.go)
	if id != "" {
		if old := m.st.get(id); old != nil && !old.findable(now) {
			// Timed out, not swept yet: expire it now, as the sweep would.
			if due, primary := old.expiryDue(now); due {
				if err := m.expire(ctx, old, primary, causeTimedOut, false); err != nil {
					m.log.Warn("delta: expiry not replicated", "err", err)
				}
			}
		}
		if m.quorum > 0 && m.gone.covers(id, 0) {
			return nil, fmt.Errorf("%w: %s was removed recently", ErrSessionIDInUse, id)
		}
		if m.renameUnsentFrom(id) {
			return nil, fmt.Errorf("%w: members may still hold the session renamed from %s under it", ErrSessionIDInUse, id)
		}
		s = newPrimarySession(m, id, now)
		// Above the version of a session of that id removed lately, so that the members,
		// which remember that removal, take this one's first delta (expired.go).
		start, _ = m.expiredAt(id)
		s.version = start
		if start > 0 {
			s.x().born = start
		}
		if !m.st.add(id, s) {
			if m.st.closed.Load() {
				return nil, ErrStopped // Stop ran meanwhile
			}
			return nil, fmt.Errorf("%w: %s", ErrSessionIDInUse, id)
		}
		// Checked again once added: a rename from id may end (and fail) meanwhile.
		if m.renameUnsentFrom(id) {
			m.st.remove(id, s)
			return nil, fmt.Errorf("%w: members may still hold the session renamed from %s under it", ErrSessionIDInUse, id)
		}
	} else {
		id = newSessionID(m.cfg.JvmRoute)
		for s = newPrimarySession(m, id, now); !m.st.add(id, s); s = newPrimarySession(m, id, now) {
			if m.st.closed.Load() {
				return nil, ErrStopped // Stop ran meanwhile
			}
			id = newSessionID(m.cfg.JvmRoute)
		}
	}
	m.stats.created.Add(1)
	// The cluster first, then the listeners: a listener that invalidates the new session
	// (a limit of sessions per user) or renames it sends its message after the creation,
	// which would otherwise make a copy of a session gone here on every other node
	// (TestCreatedListenerMayInvalidateTheSession).
	if err := m.broadcast(ctx, &Message{Event: EventCreated, SessionID: id, Timestamp: now, Version: start}); err != nil {
		m.log.Debug("delta: cannot tell the cluster about a new session", "err", err)
	}
	m.fire(context.Background(), s, false, notice{kind: nCreated})
	return s, nil
}

// Serving returns nil while the manager serves its sessions: it is running and, with
// Config.ClusterSize, holds the quorum, is not standing down for a partial partition and
// has refreshed its copies since it last lost the quorum (the middleware answers 503
// meanwhile). Otherwise it returns an error wrapping ErrStopped (saying whether Start
// was not called yet or the manager stopped) or ErrNoQuorum. Code that
// reads sessions without the middleware (Find) checks it first, so as not to serve a copy
// that may be stale, after Ready (or WaitReady): during the state transfer Serving
// returns nil while sessions are still arriving.
func (m *Manager) Serving() error {
	if !m.running() {
		return m.notRunning()
	}
	if m.lacksQuorum() {
		if err := m.refusing(); err != nil {
			return err
		}
		return fmt.Errorf("%w: this node's view holds fewer than a majority of ClusterSize nodes", ErrNoQuorum)
	}
	return nil
}

// Replicate ends a request on s (Tomcat's requestCompleted): if the request changed the
// session, its delta goes to the cluster (EVT_SESSION_DELTA); otherwise an
// EVT_SESSION_ACCESSED goes out if the session was not primary here or has not been
// replicated for longer than its max inactive interval. This node becomes the session's
// primary. Replications of one session are serialised, so their messages leave in order.
//
// With acked replication the call returns once every member applied the message; if
// that fails the changes stay pending (the next Replicate sends them again, except those
// a later change from another node replaced) and the error is returned. With
// asynchronous replication it returns once the message was sent.
//
// Its errors (tested with errors.Is and errors.As):
//   - ErrNoSession: s is nil (TestNilSession).
//   - ErrInvalidSession: s belongs to another manager (TestSessionOfAnotherManagerRefused).
//   - a *channel.SendError (channel.ErrAckFailed, channel.ErrAckTimeout,
//     channel.ErrConnect...): members did not take the message; the changes stay pending.
//   - ErrNoQuorum, with Config.ClusterSize: fewer than a majority hold the change, or
//     this node refreshes its copies or probes a member that left its view; the changes
//     stay pending.
//   - ErrMessageLimit: the codec refused to encode the delta for its limits. The
//     attribute, note or principal values that make it so are left out, counted in
//     Stats.ChangesDroppedPastLimits and named in the error, the other changes sent
//     (TestChangePastLimitsDoesNotBlockLaterDeltas; with asynchronous replication
//     likewise, TestAsyncChangePastLimitsDoesNotBlockLaterDeltas; BinaryCodec's own
//     MaxMessageSize too, TestChangePastOwnMaxMessageSizeDoesNotBlockLaterDeltas); when
//     no value is the cause (the changes without a value go beyond the limits alone, as
//     more of them than MaxEntries) the changes stay pending.
//   - ErrNoObjectMessages: a JavaCodec cluster on a Channel without SendMessage
//     (TestReplicateNoObjectMessages); the changes stay pending.
//   - ctx.Err() (context.Canceled, context.DeadlineExceeded): with asynchronous
//     replication, ctx ended while the call waited for its message; the changes still go.
//   - any of these for an id change of s that failed earlier and is sent first
//     (rename_unsent.go), joined with the delta's own error (errors.Join).
//
// With BinaryCodec, the messages of concurrent calls are coalesced (group commit): with
// acked replication and a ctx that cannot be cancelled (ctx.Done() is nil, as the
// middleware's), while one channel message is being sent, the messages of the calls that
// arrive go out together in the next one; with asynchronous replication every message of
// the manager goes through one sending goroutine, which sends what was queued meanwhile
// in one channel message. Each call returns when the message that carried its own did
// (acknowledged by every member, with acked replication).
func (m *Manager) Replicate(ctx context.Context, s *Session) error {
	return m.replicate(ctx, s, true)
}

// replicate is Replicate; without wait, with asynchronous replication and BinaryCodec
// (the manager has an asyncQueue), it queues the delta and returns at once (the
// middleware's).
func (m *Manager) replicate(ctx context.Context, s *Session, wait bool) error {
	if s == nil {
		return ErrNoSession
	}
	if s.m != m {
		return m.notMine(s)
	}
	// Hold the session's send slot across the send so that two requests on the same
	// session send in the order they took their deltas (and one that finds nothing to
	// send returns after the send of the changes another one took).
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	// A rename that failed goes first; failing again, it stays to be sent and the
	// changes go out all the same, to the members that can take them. An asynchronous
	// request queues it before its delta, and does not wait for it either.
	if !wait && m.async != nil {
		m.queueUnsentRename(s)
		return m.replicateLocked(ctx, s, wait)
	}
	if err := m.sendUnsentRename(ctx, s); err != nil {
		return errors.Join(err, m.replicateLocked(ctx, s, wait))
	}
	return m.replicateLocked(ctx, s, wait)
}

// replicateLocked is replicate with s's send slot held.
func (m *Manager) replicateLocked(ctx context.Context, s *Session, wait bool) error {
	now := nowMs()
	if s.quiet(now) {
		return nil // the acked middleware's second call, after the response started
	}
	// A batch's leader takes the member list once for every message in it, and so does
	// the async queue (while its last batch had members): a message that finds none
	// there is dropped, as takeDelta drops the changes without members.
	batched := m.batch != nil && ctx.Done() == nil
	var members []channel.Member
	hasMembers := batched || m.async != nil && m.async.hadMembers.Load()
	if !hasMembers {
		members = m.cl.ch.Members()
		hasMembers = len(members) > 0
	}
	if m.async != nil {
		msg, _, err := m.async.replicate(ctx, s, now, hasMembers, wait)
		if err != nil {
			if msg == nil {
				return fmt.Errorf("delta: replicating session %s: %w", s.ID(), err)
			}
			return fmt.Errorf("delta: replicating session %s (%v): %w", msg.SessionID, msg.Event, err)
		}
		return nil
	}
	msg, actions := s.takeDelta(now, hasMembers || m.quorum > 0)
	if msg == nil {
		return nil
	}
	send := func() error {
		err := notSent(m.refusing())
		switch {
		case err != nil:
		case batched:
			err = m.batch.send(ctx, msg)
		case len(members) == 0: // only with a quorum: takeDelta drops the changes otherwise
			err = m.judge(0, nil)
		default:
			err = m.replicateTo(ctx, members, msg)
		}
		return err
	}
	err := send()
	var dropped error // changes left out for the codec's limits (send_limits.go)
	if err != nil && neverSent(err) && errors.Is(err, ErrMessageLimit) {
		if kept, out := m.splitPastLimits(msg); len(out) > 0 {
			dropped = m.droppedPastLimits(s, msg, out, err)
			if len(kept) == 0 {
				s.requeue(msg, nil, true) // nothing left to send: only the version goes back
				return dropped
			}
			msg.Actions = kept
			actions = kept
			err = send()
		}
	}
	if err != nil {
		s.requeue(msg, actions, neverSent(err))
		s.sendFailed()
		return errors.Join(dropped, fmt.Errorf("delta: replicating session %s (%v): %w", msg.SessionID, msg.Event, err))
	}
	s.reuse(actions) // sent: the message is done with them
	return dropped
}

// sendFailed records that a message of s (a delta or an EVT_SESSION_ACCESSED) did not
// reach every member. takeDelta made this node the session's primary, and the members
// may not know it: the one that was primary before goes on expiring the session after
// its timeout counted from the request it served last, and tells the others. So the
// next request on s tells the members again that it was served here (an
// EVT_SESSION_ACCESSED, when its changes do not go out anyway).
func (s *Session) sendFailed() {
	s.mu.Lock()
	s.sendFailedLocked()
	s.mu.Unlock()
}

// sendFailedLocked is sendFailed with s.mu held.
func (s *Session) sendFailedLocked() { s.lastRepl = 0 }

// Invalidate destroys s here and on every other node (EVT_SESSION_EXPIRED). Session
// listeners fire; the session's pending changes go out first, as Tomcat does. A session
// of another manager is refused with an error wrapping ErrInvalidSession, as by
// Replicate and ChangeSessionID (TestSessionOfAnotherManagerRefused).
func (m *Manager) Invalidate(ctx context.Context, s *Session) error {
	if s == nil {
		return ErrNoSession
	}
	if s.m != m {
		return m.notMine(s)
	}
	return m.expire(ctx, s, true, causeInvalidated, false)
}

// notMine is the error of Replicate, Invalidate and ChangeSessionID for a session of
// another manager (another application): handled here, it would go to this manager's
// context on the other nodes, and stay behind, invalid, in its own manager's table.
func (m *Manager) notMine(s *Session) error {
	return fmt.Errorf("%w: session %s belongs to manager %q, not %q", ErrInvalidSession, s.ID(), s.m.cfg.Name, m.cfg.Name)
}

// destroyCause is why a session is destroyed, for listeners (SessionEvent).
type destroyCause uint8

const (
	causeInvalidated destroyCause = iota // Invalidate, or an expiry another node sent
	causeTimedOut                        // the expiry sweep
	causeStopped                         // the manager's Stop
)

// expire destroys s locally; with notifyCluster it sends the pending delta and an
// EVT_SESSION_EXPIRED. cause and replicated describe the event for listeners.
//
// With notifyCluster the session's send slot is held while the session is marked
// expiring and removed (so that no id change of it runs meanwhile, and a send in flight
// ends first) and again while the expiry is sent, but not while the listeners run: a
// listener may call back into the manager about the session (an Invalidate, a Replicate:
// they find it expiring and return), or invalidate another session whose listener
// invalidates this one (TestDestroyedListenerMayInvalidateTheSession). Nothing else can
// send a message about the session in between: it is expiring, and no longer held.
func (m *Manager) expire(ctx context.Context, s *Session, notifyCluster bool, cause destroyCause, replicated bool) error {
	if notifyCluster {
		s.sendMu.Lock()
	}
	e, ok := s.beginExpire()
	if ok {
		if notifyCluster {
			m.noteExpired(e.id, e.version) // a session made again under its id starts above it
		}
		m.st.remove(e.id, s)
		m.skip(e.id)
	}
	if notifyCluster {
		s.sendMu.Unlock()
	}
	if !ok {
		return nil
	}
	m.stats.destroyed.Add(1)
	if cause == causeTimedOut {
		m.stats.expired.Add(1)
	}
	n := notice{kind: nDestroyed, expired: cause == causeTimedOut, stopping: cause == causeStopped, named: e.named}
	// The listeners' Context: Stop's, marked (stopMark), that of the goroutine applying a
	// replicated expiry (a drain's, marked: drainMark; the manager's, m.work), or the
	// sweep's (m.work); else context.Background().
	lctx := context.Background()
	switch {
	case n.stopping || replicated:
		lctx = ctx
	case ctx.Value(workMark{}) == m:
		lctx = m.work
	}
	m.fire(lctx, s, replicated, n)
	// Unbind the attributes (Tomcat fires attributeRemoved for each).
	m.fire(lctx, s, replicated, s.endExpire()...)

	if !notifyCluster {
		return nil
	}
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	// The members that missed a rename hold the session under its old id: renamed first,
	// they remove it with the expiry.
	unsentOld := s.unsentIDs()
	renameErr := m.sendUnsentRename(ctx, s)
	if renameErr != nil && cause != causeStopped {
		for _, id := range unsentOld {
			m.noteUnsent(id) // the sweep removes their copies (expire.go)
			// A session made again under it starts above the copies they hold, which
			// its creation then replaces (TestCreateWithIDAfterAnUnsentRenameAndExpiry).
			m.noteExpired(id, e.version)
		}
	}
	s.setHeld(nil) // the session is gone: nothing is to rename it again
	members := m.cl.ch.Members()
	if len(members) == 0 {
		if err := m.judge(0, nil); err != nil {
			if cause != causeStopped {
				m.noteUnsent(e.id)
			}
			return fmt.Errorf("delta: replicating expiry of session %s: %w", e.id, err)
		}
		if cause != causeStopped {
			m.noteRemoved(e.id, s, e.version, false)
		}
		return nil
	}
	now := nowMs()
	errs := []error{renameErr}
	if len(e.pending) > 0 {
		errs = append(errs, m.replicateTo(ctx, members, &Message{Event: EventDelta, SessionID: e.id, Timestamp: now,
			Version: e.version, Actions: e.pending}))
	}
	// Its version, above every change of the session this node held, tells the members
	// which deltas came before it (expired.go).
	errs = append(errs, m.replicateTo(ctx, members, &Message{Event: EventExpired, SessionID: e.id, Timestamp: now,
		Version: e.version}))
	if err := errors.Join(errs...); err != nil {
		if cause != causeStopped {
			m.noteUnsent(e.id)
		}
		return fmt.Errorf("delta: replicating expiry of session %s: %w", e.id, err)
	}
	if cause != causeStopped {
		m.noteRemoved(e.id, s, e.version, false)
	}
	return nil
}

// broadcast sends msg to every member with the manager's options; no members is not an
// error unless a quorum is required (Config.ClusterSize).
func (m *Manager) broadcast(ctx context.Context, msg *Message) error {
	members := m.cl.ch.Members()
	if len(members) == 0 {
		if err := m.refusing(); err != nil {
			return err
		}
		return m.judge(0, nil)
	}
	return m.replicateTo(ctx, members, msg)
}

// replicateTo sends a session change to members with the manager's options (through the
// asyncQueue, if the manager has one: then to the members at the time it leaves), and
// judges the outcome (judge).
func (m *Manager) replicateTo(ctx context.Context, members []channel.Member, msg *Message) error {
	if m.async != nil {
		return m.async.send(ctx, msg)
	}
	if err := m.refusing(); err != nil {
		return err
	}
	return m.judge(len(members), m.sendTo(ctx, members, msg, m.opts))
}

// judge returns the outcome of a session change sent to n members, whose send returned
// err. With Config.TolerateUnreachable a send that failed only because some members
// could not even be connected to succeeds; with Config.ClusterSize fewer than m.quorum
// members holding the change fail it with ErrNoQuorum. A message sent to nobody, or
// that no member took (each could not even be connected to or, with BinaryCodec,
// refused it with FAIL_ACK), is held by no other node: so marked (notSent), its change
// gives way to any other node's of its version (unsent.go;
// TestUnreachableChangeLosesToTheMajoritysDelta,
// TestFailAckedChangeLosesToTheMajoritysDelta).
func (m *Manager) judge(n int, err error) error {
	_, goOnly := m.cl.codec.(batchCodec)
	if n == 0 && err == nil || n > 0 && takenByNone(n, err, goOnly) {
		return notSent(m.judgeSent(n, err))
	}
	return m.judgeSent(n, err)
}

// takenByNone reports whether err, the failure of a send to n members, names every one
// of them as one that did not take the message: it could not be connected to
// (ErrConnect) or, with refusals (BinaryCodec: every member a Go node), it answered
// FAIL_ACK (ErrAckFailed), which a Go node's session cluster and channel answer only
// before applying a message (a sender not listed, a message past its limits, no
// listener for it); and by no attempt that wrote it first (ErrConnectionLost:
// transport/nio) nor one whose ACK did not come (ErrAckTimeout). A Tomcat node answers
// FAIL_ACK when any listener of its channel threw on the message, which may be after
// its DeltaManager applied it (SimpleTcpCluster hands a message to each cluster listener
// that accepts it in turn, GroupChannel to each channel listener), so with JavaCodec a
// FAIL_ACK leaves the change one that may have been sent.
func takenByNone(n int, err error, refusals bool) bool {
	faulty := channel.FaultyMembers(err)
	if len(faulty) < n {
		return false
	}
	for _, f := range faulty {
		if errors.Is(f.Err, channel.ErrConnectionLost) || errors.Is(f.Err, channel.ErrAckTimeout) {
			return false
		}
		if !errors.Is(f.Err, channel.ErrConnect) && !(refusals && errors.Is(f.Err, channel.ErrAckFailed)) {
			return false
		}
	}
	return true
}

// judgeSent is judge.
func (m *Manager) judgeSent(n int, err error) error {
	sent := n
	if err != nil {
		if !m.cfg.TolerateUnreachable {
			return err
		}
		faulty := channel.FaultyMembers(err)
		if len(faulty) == 0 {
			return err
		}
		for _, f := range faulty {
			if !errors.Is(f.Err, channel.ErrConnect) {
				return err
			}
		}
		if m.stats.unreachable.Add(1) <= 10 {
			m.log.Warn("delta: members unreachable; replicating to the others", "unreachable", len(faulty), "err", err)
		}
		n -= len(faulty)
	}
	if n < m.quorum {
		return fmt.Errorf("%w: %d of %d nodes hold it (this one included), %d needed", ErrNoQuorum,
			max(n, 0)+1, m.cfg.ClusterSize, m.quorum+1)
	}
	if m.quorum > 0 {
		// The change went to fewer members than the view this node's probes know of (one
		// left, and the cluster has not started probing it yet: the channel lists a view
		// before it tells its listeners); or a partial partition (cut.go) was found, or is
		// being probed, while it was out. The view size is read first: the listener sets
		// it after pausing, so one of the two checks sees the member's departure.
		short := m.cl.cuts.on.Load() && sent < int(m.cl.cuts.viewSize.Load())
		if err := m.refusing(); err != nil {
			return err
		}
		if short {
			return errProbing
		}
	}
	return nil
}

func (m *Manager) sendTo(ctx context.Context, to []channel.Member, msg *Message, opts channel.SendOptions) error {
	msg.Context = m.cfg.Name
	bp := m.buffer()
	data, err := m.cl.codec.AppendMessage((*bp)[:0], msg)
	sent := false
	if err == nil {
		sent, err = m.transmit(ctx, to, data, opts)
	} else {
		err = notSent(err)
	}
	m.release(bp, data)
	if sent {
		m.countSent(msg)
	}
	return err
}

// transmit sends an encoded payload and counts its bytes. sent is false when it did not
// go out; no members is not an error.
func (m *Manager) transmit(ctx context.Context, to []channel.Member, data []byte, opts channel.SendOptions) (sent bool, err error) {
	err = m.cl.send(ctx, to, data, opts)
	if errors.Is(err, channel.ErrNoMembers) {
		return false, nil
	}
	if err != nil {
		m.stats.sendFailures.Add(1)
		return false, err
	}
	m.stats.bytesSent.Add(uint64(len(data)))
	return true, nil
}

func (m *Manager) countSent(msg *Message) {
	if int(msg.Event) < len(m.stats.sent) {
		m.stats.sent[msg.Event].Add(1)
	}
}

// buffer returns an encoding buffer from the manager's pool; release gives it back.
func (m *Manager) buffer() *[]byte {
	if bp, _ := m.bufPool.Get().(*[]byte); bp != nil {
		return bp
	}
	return new([]byte)
}

// release puts bp back, holding data's array unless it grew too large to keep.
func (m *Manager) release(bp *[]byte, data []byte) {
	if cap(data) <= 64<<10 {
		*bp = data[:0]
		m.bufPool.Put(bp)
	}
}
