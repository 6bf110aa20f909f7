package delta

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
	"unsafe"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/thp"
	"github.com/gotribes/tribes/jserial"
)

type sigKind uint8

const (
	sigComplete sigKind = iota // EVT_ALL_SESSION_TRANSFERCOMPLETE from the donor
	sigDeclined                // EVT_ALL_SESSION_NOCONTEXTMANAGER from the donor
	sigGone                    // the donor left the membership
	sigLost                    // a message from the donor was lost on receipt or could not be decoded
)

type transferSignal struct {
	kind     sigKind
	ts       int64
	err      error // sigLost: why, for TransferAttempt.Err
	starting bool  // sigDeclined: the donor's manager is starting (idNotReady)
}

// transferOpts are the options of every message of a state transfer's answer: each chunk
// is acknowledged after the joiner applied it, which is also the flow control.
const transferOpts = channel.OptUseAck | channel.OptSyncAck

// askOpts are the options of the request: the donor acknowledges once its listeners ran, so
// a member that runs no session manager at all answers FAIL_ACK (the channel's answer to a
// message no listener accepted) instead of an ACK behind which the joiner would wait for
// StateTransferTimeout.
const askOpts = channel.OptUseAck | channel.OptSyncAck

// transferWindow is how many chunks of a state transfer a donor has in flight at once
// (sent, not yet acknowledged): while the joiner applies one, the next is encoded and on
// its way, on another of the pool's connections, instead of the two sides taking turns.
const transferWindow = 3

// runTransfer is the joining side of a state transfer: ask the oldest member for every
// session; if it declines, disappears or cannot be reached, ask the next one; stop at the
// first complete transfer, when no member is left, on timeout or when the manager stops.
func (m *Manager) runTransfer(ctx context.Context) {
	defer m.wg.Done()
	start := time.Now()
	var deadline <-chan time.Time
	if m.cfg.StateTransferTimeout > 0 {
		t := time.NewTimer(m.cfg.StateTransferTimeout)
		defer t.Stop()
		deadline = t.C
	}
	var waitUntil time.Time // zero: no wait
	if m.cfg.MemberWait > 0 {
		waitUntil = start.Add(m.cfg.MemberWait)
	}
	tried := map[channel.MemberKey]bool{}
	var attempts []TransferAttempt
	// Set at the first request: while sessions arrive, GOGC is raised and the heap they fill
	// advised for huge pages (internal/thp).
	var releaseHeap func()
	defer func() {
		if releaseHeap != nil {
			releaseHeap()
		}
	}()
	finish := func(ts int64, err error) { m.finishTransfer(ctx, start, ts, err, releaseHeap) }
	fail := func(err error) {
		finish(0, &StateTransferError{Context: m.cfg.Name, Attempts: attempts,
			Sessions: int(m.stats.transferred.Load()), Elapsed: time.Since(start), Err: err})
	}
	untried := func() (channel.Member, bool) {
		for _, mem := range m.cl.ch.Members() {
			if !tried[mem.Key()] {
				return mem, true
			}
		}
		return channel.Member{}, false
	}
	for {
		donor, found := untried()
		if !found && time.Now().Before(waitUntil) {
			joined, err := m.awaitMember(ctx, waitUntil, deadline, len(attempts))
			if err != nil {
				fail(err)
				return
			}
			if joined {
				continue
			}
		}
		if !found {
			if slices.ContainsFunc(attempts, failed) {
				fail(ErrAllDonorsFailed)
				return
			}
			// Nobody (left) has sessions for this context: start empty, as the first node.
			if len(attempts) > 0 {
				m.log.Info("delta: no member could give its sessions; starting with what was received",
					"attempts", len(attempts), "noSessionManager", m.stats.noManager.Load(),
					"noContextManager", m.stats.declined.Load())
			}
			finish(0, nil)
			return
		}
		tried[donor.Key()] = true
		sig := make(chan transferSignal, 2) // a loss reported after the completion still fits
		id, ok := m.beginAttempt(donor, sig, nil)
		if !ok {
			return
		}
		// What an earlier donor's failed attempt carried is loaded over by this one's
		// (transfer_unsent.go: TestFailedDonorsRefusedChangesAskNoSecondTransfer).
		m.shipped.Store(0)
		m.toldRefused.Store(0)
		m.stats.attempts.Add(1)
		if releaseHeap == nil {
			gc, huge := raiseGCPercent(m.cfg.TransferGCPercent), thp.Hold()
			releaseHeap = func() { gc(); huge() }
		}
		attempts = append(attempts, TransferAttempt{Donor: donor})
		last := &attempts[len(attempts)-1]
		m.log.Info("delta: asking for the sessions", "donor", donor.Addr())

		others := func() bool {
			_, ok := untried()
			return ok
		}
		ts, err := m.awaitTransfer(ctx, m.asker(ctx, donor, true, id), sig, deadline, waitUntil, others, last)
		if err != nil {
			fail(err)
			return
		}
		if last.Err == nil {
			m.log.Info("delta: state transfer complete", "donor", donor.Addr(),
				"sessions", m.stats.transferred.Load(), "elapsed", time.Since(start))
			m.mu.Lock()
			m.doneFrom = donor.Addr()
			m.mu.Unlock()
			if err := m.catchUp(ctx, donor, start, waitUntil, deadline); err != nil {
				fail(err)
				return
			}
			if err := m.askPastUnsent(ctx, donor, deadline); err != nil {
				fail(err)
				return
			}
			finish(ts, nil)
			return
		}
		switch {
		case errors.Is(last.Err, errTransferLost):
			m.log.Error("delta: a message of the state transfer was lost; asking the next member if any",
				"donor", donor.Addr(), "err", last.Err)
		case errors.Is(last.Err, ErrDonorGone):
			m.log.Warn("delta: donor disappeared during the state transfer; asking the next member", "donor", donor.Addr())
		case errors.Is(last.Err, ErrNoSessionManager):
			m.stats.noManager.Add(1)
			m.log.Info("delta: member runs no session manager (it answered FAIL_ACK); asking the next member if any",
				"member", donor.Addr())
		case errors.Is(last.Err, errDonorStarting):
			// Two nodes starting at once: each asks the other, still starting, which has
			// nothing to give yet. Not the warning below, meant for a member without the
			// manager (TestSimultaneousStartIsQuiet).
			m.stats.declined.Add(1)
			m.log.Info("delta: member is starting its own manager for the context and has no sessions to give yet; "+
				"asking the next member if any", "member", donor.Addr())
		case errors.Is(last.Err, ErrDonorDeclined):
			m.stats.declined.Add(1)
			// A warning, as Tomcat's DeltaManager logs this outcome, naming what the name
			// must be: a manager named by its context path beside Tomcat's
			// "localhost#/app" gets no session and hears of none.
			m.log.Warn("delta: member has no manager for the context (EVT_ALL_SESSION_NOCONTEXTMANAGER): it does not run "+
				"the application, or under another name; Config.Name must be the members' name for it, which Tomcat "+
				"makes <host>#<context path> (localhost#/app) for a Cluster in the Engine, <context path> for one in "+
				"the Host; asking the next member if any", "member", donor.Addr())
		case errors.Is(last.Err, channel.ErrConnect):
			m.log.Info("delta: cannot connect to the member to ask for its sessions (a listed member that does not run yet, "+
				"as when a cluster starts); asking the next member if any", "member", donor.Addr(), "err", last.Err)
		default:
			m.log.Info("delta: asking the member for its sessions failed; asking the next member if any",
				"member", donor.Addr(), "err", last.Err)
		}
	}
}

// failed reports whether a transfer attempt failed for a reason that makes starting
// without the sessions an error: anything but a member without sessions to give, which
// includes one that could not be connected to (channel.ErrConnect: a static member that
// does not run yet, as when a cluster starts).
func failed(a TransferAttempt) bool {
	return a.Err != nil && !errors.Is(a.Err, ErrNoSessionManager) && !errors.Is(a.Err, ErrDonorDeclined) &&
		!errors.Is(a.Err, channel.ErrConnect)
}

// errDonorStarting is wrapped with ErrDonorDeclined by a TransferAttempt.Err when the
// donor's decline said its manager is starting (idNotReady, or uniqueNotReady from a Go
// node of an earlier version not asked to echo): not started yet, or waiting for its own
// state transfer.
var errDonorStarting = errors.New("delta: the member's manager is starting itself")

// errTransferLost marks a TransferAttempt.Err made by transferLost.
var errTransferLost = errors.New("delta: a message of the state transfer was lost")

// transferLost fails the transfer attempt in progress if its donor is src: a message from
// it was lost (the transport refused it or its connection cut it off: cause wraps
// channel.ErrMessageTooLarge or channel.ErrConnectionLost) or could not be decoded, so
// the sessions it carried will never arrive. size is the message's size in bytes.
func (m *Manager) transferLost(src channel.Member, size int, cause error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.signal == nil || src.Key() != m.donor { // no attempt, or another donor's
		return
	}
	hint := ""
	switch {
	case errors.Is(cause, channel.ErrMessageTooLarge):
		hint = fmt.Sprintf("; raise this node's MaxFrameSize (transport/nio) above %d bytes, or have a Tomcat donor send "+
			"its sessions in chunks (DeltaManager sendAllSessions=\"false\")", size)
	case errors.Is(cause, channel.ErrConnectionLost):
		hint = "; a Tomcat donor cuts a send off after its sender's timeout (PooledParallelSender timeout, 3000 ms by " +
			"default): raise it, or have it send its sessions in chunks (DeltaManager sendAllSessions=\"false\")"
	case errors.Is(cause, ErrDecodeBudget):
		hint = "; raise JavaCodec.MaxExpansion: the Go forms of the message's values take more than it allows"
	case errors.Is(cause, jserial.ErrLimit) && m.cl.isJava():
		hint = fmt.Sprintf("; raise JavaCodec.Limits.MaxBytes above %d bytes", size)
		if c, ok := m.cl.codec.(JavaCodec); ok && int64(size) <= c.maxBytes() { // another limit: depth, handles, arrays
			hint = "; raise the JavaCodec.Limits field the error names to the donor's: a chunk is one stream"
		}
	}
	err := fmt.Errorf("%w: %d bytes from %s: %w%s", errTransferLost, size, src.Addr(), cause, hint)
	select {
	case m.signal <- transferSignal{kind: sigLost, err: err}:
	default:
	}
}

// beginAttempt makes donor the member whose transfer chunks are loaded (while
// transferring, only the sessions named in fillIn unless it is nil; while running, see
// loadRepaired) and whose outcome goes to sig. It reports false when the manager stopped.
// id is the attempt's request's own with BinaryCodec (askID), which a member of this
// version echoes (AskEcho): the late answer to an earlier request to donor (a refresh's or
// a repair's whose wait ended, asked again by the next round) is not taken for this one's
// (TestRefetchIgnoresALateAnswerToAnEarlierRequest). With JavaCodec it is "": Tomcat's
// format has no place for AskEcho, and Tomcat never sees an id of another form than its
// own (TestJavaCodecRequestKeepsTomcatsID).
func (m *Manager) beginAttempt(donor channel.Member, sig chan transferSignal, fillIn map[string]bool) (id string, ok bool) {
	m.loadMu.Lock()
	defer m.loadMu.Unlock()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.state != stateTransferring && m.state != stateRunning {
		return "", false
	}
	if _, binary := m.cl.codec.(batchCodec); binary {
		id = m.askID()
	}
	m.donor, m.signal, m.fillIn, m.asking = donor.Key(), sig, fillIn, id
	return id, true
}

// endAttempt ends the current attempt: no chunk is being loaded, and none will be.
func (m *Manager) endAttempt() {
	m.loadMu.Lock()
	defer m.loadMu.Unlock()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.signal, m.fillIn, m.merging, m.asking = nil, nil, false, ""
}

// asker returns the function that asks donor for every session; with removals, for its
// records of removed and renamed ids too (a joiner's and a refresh's request; removals.go).
// id is the attempt's (beginAttempt): when set, the request carries it and asks for it
// to be echoed (AskEcho), else it carries Tomcat's "GET-ALL-" and the context's name.
func (m *Manager) asker(ctx context.Context, donor channel.Member, removals bool, id string) func() error {
	var ask uint64 = AskStamps | AskBorn | AskMetaStamps | AskLeft
	if removals && sendsRemovals(m.cl.codec) {
		ask |= AskRemovals
	}
	if id != "" {
		ask |= AskEcho
	} else {
		id = idGetAll + "-" + m.cfg.Name
	}
	return func() error {
		return m.sendTo(ctx, []channel.Member{donor}, &Message{Event: EventGetAllSessions, SessionID: idGetAll,
			UniqueID: id, Timestamp: nowMs(), Version: ask, NewID: leftAtAsk}, askOpts)
	}
}

// askAgainAfter is how long a joiner waits before asking again a donor that answered its
// request with FAIL_ACK while memberships settle: right after a restart the donor may not
// list the joiner as a member yet, and refuses its requests until it does.
const askAgainAfter = time.Second

// awaitTransfer asks the donor with ask and waits for the outcome. It records in last why
// the donor did not complete the transfer (nil if it did, with the snapshot time ts), or
// returns the error that ends the whole transfer (timeout, stop).
//
// The request's acknowledgement tells what to expect. An ACK: the donor's session cluster
// took it from a member; wait for the sessions (or its EVT_ALL_SESSION_NOCONTEXTMANAGER).
// An ack timeout: wait as well, since a Tomcat donor acknowledges only after it has sent
// every session. In both cases the donor is asked again only after
// Config.TransferIdleTimeout without any sign of the answer (a Tomcat donor serialises
// every session anew for each request), twice as long after each further request.
// FAIL_ACK: no listener took it, so the member runs no session manager at all
// (ErrNoSessionManager), unless it does not list this node as a member yet and refused
// the request for that reason; the two look alike, so until settle (the end of
// Config.MemberWait, while memberships settle) the donor is asked again every
// askAgainAfter, unless another member is there to ask (others).
func (m *Manager) awaitTransfer(ctx context.Context, ask func() error, sig <-chan transferSignal,
	deadline <-chan time.Time, settle time.Time, others func() bool, last *TransferAttempt) (ts int64, err error) {
	retry := time.NewTimer(askAgainAfter) // FAIL_ACK while memberships settle
	retry.Stop()
	defer retry.Stop()
	idle := m.cfg.TransferIdleTimeout // no sign of an accepted request's answer
	quiet := time.NewTimer(idle)
	quiet.Stop()
	defer quiet.Stop()
	var asked time.Time // when the donor accepted the last request (or its ack timed out)
	// try asks once and reports whether this donor is done with (last.Err says why).
	try := func() (done bool, err error) {
		err = ask()
		switch {
		case err == nil || errors.Is(err, channel.ErrAckTimeout):
			if idle > 0 {
				asked = time.Now()
				quiet.Reset(idle)
			}
			return false, nil
		case ctx.Err() != nil:
			return true, ErrStopped
		case errors.Is(err, channel.ErrAckFailed):
			if time.Now().Before(settle) && !others() {
				retry.Reset(askAgainAfter)
				return false, nil
			}
			last.Err = fmt.Errorf("%w: %w", ErrNoSessionManager, err)
		default:
			last.Err = err
		}
		return true, nil
	}
	if done, err := try(); done || err != nil {
		return 0, err
	}
	for {
		select {
		case s := <-sig:
			if s.kind == sigComplete { // a loss reported meanwhile makes it incomplete
				select {
				case later := <-sig:
					if later.kind == sigLost {
						s = later
					}
				default:
				}
			}
			if s.kind == sigComplete {
				lost, err := m.awaitArrival(ctx, last.Donor, sig, deadline)
				if err != nil {
					return 0, err
				}
				if lost != nil {
					s = transferSignal{kind: sigLost, err: lost}
				}
			}
			switch s.kind {
			case sigComplete:
				last.Err, ts = nil, s.ts
			case sigDeclined:
				last.Err = ErrDonorDeclined
				if s.starting {
					last.Err = fmt.Errorf("%w: %w", ErrDonorDeclined, errDonorStarting)
				}
			case sigGone:
				last.Err = ErrDonorGone
			case sigLost:
				last.Err = s.err
			}
			return ts, nil
		case <-retry.C:
			if done, err := try(); done || err != nil {
				return 0, err
			}
		case <-quiet.C:
			latest := asked
			if heard := time.Unix(0, m.heard.Load()); heard.After(latest) {
				latest = heard
			}
			if m.arriving(last.Donor) {
				latest = time.Now()
			}
			if since := time.Since(latest); since < idle {
				quiet.Reset(idle - since)
				continue
			}
			m.stats.askedAgain.Add(1)
			m.log.Warn("delta: no sign of the sessions asked for; asking the member again",
				"donor", last.Donor.Addr(), "waited", idle)
			idle *= 2
			if done, err := try(); done || err != nil {
				return 0, err
			}
		case <-deadline:
			return 0, ErrStateTransferTimeout
		case <-ctx.Done():
			return 0, ErrStopped
		}
	}
}

// finishTransfer replays the queued messages (dropping those older than the transferred
// state, ts) and marks the manager ready with err. ts 0 means no state was transferred:
// nothing is stale. When the replay finds messages about sessions the transfer left out,
// it asks their senders for the sessions again first (see repair). releaseHeap, if not
// nil, puts GOGC back and withdraws the huge page advice before the manager is marked
// ready.
func (m *Manager) finishTransfer(ctx context.Context, start time.Time, ts int64, err error, releaseHeap func()) {
	var ste *StateTransferError
	if errors.As(err, &ste) {
		m.log.Error("delta: state transfer failed; serving with the sessions received", "err", err)
	}
	m.endAttempt()
	r := repair{m: m, ts: ts}
	for {
		m.mu.Lock()
		if m.state != stateTransferring || ctx.Err() != nil {
			m.mu.Unlock()
			m.late.Store(nil)
			return
		}
		if len(m.queue) == 0 {
			if ts != 0 && r.pending() {
				m.mu.Unlock()
				r.round(ctx)
				continue
			}
			m.stats.transferNanos.Store(int64(time.Since(start)))
			if releaseHeap != nil {
				releaseHeap() // before ready: whoever waits for it sees GOGC back
			}
			m.state = stateRunning
			m.startedWithout()
			m.startLateLocked()
			m.closeReadyLocked(err)
			m.mu.Unlock()
			return
		}
		q := m.queue
		m.queue = nil
		m.mu.Unlock()
		for _, e := range q {
			// A message about a session this node lacks, stale or not, shows that the
			// transfer left the session out.
			missing := m.lacks(e.msg)
			if m.stale(e.msg, r.tsOf(e.msg)) {
				m.dropStale(m.work, e)
			} else {
				m.dispatch(m.work, e.msg, e.src)
			}
			r.replayed(e, missing)
		}
	}
}

// stale reports whether a message queued during the transfer is already reflected in
// the transferred state (Tomcat's stateTimestampDrop): it is older than the donor's
// snapshot. A delta is kept anyway when it is newer than the transferred copy of its
// session (its version is higher), which happens when the donor received it late. So is
// an expiry or an id change of a session this node holds (under the id it names): the
// copy came from a snapshot that did not reflect it, the donor's if it applied the
// message after it walked the session, or an earlier donor's (one that left mid-transfer:
// its sessions stay, and the next donor's snapshot lacks the sessions removed or renamed
// since). An expiry spares a copy created after it (the id was used again).
func (m *Manager) stale(msg *Message, ts int64) bool {
	if m.cfg.KeepStaleTransferMessages || ts == 0 || msg.Timestamp >= ts {
		return false
	}
	switch msg.Event {
	case EventDelta:
		if s := m.st.get(msg.SessionID); s != nil {
			return !s.olderThan(msg.Version)
		}
	case EventExpired:
		if s := m.replicaOf(msg.SessionID); s != nil {
			return s.CreationTime().UnixMilli() > msg.Timestamp
		}
	case EventChangeSessionID:
		return m.replicaOf(msg.SessionID) == nil
	}
	return true
}

// loadSessions stores a chunk of transferred sessions as non-primary copies, replacing
// copies already held; with fillIn, only the sessions it names that this node lacks. The
// donor's records of removed and renamed ids (a state transfer asks for them) join this
// node's, and remove the copies they cover (an earlier donor's: mergeRemoval).
func (m *Manager) loadSessions(ctx context.Context, list []SessionState, fillIn map[string]bool) {
	loaded := 0 // counted once per chunk: chunks are loaded in parallel
	for i := range list {
		st := &list[i]
		if !validID(st.ID) || st.Removed && fillIn != nil { // a repair does not ask for removals
			m.stats.unexpected.Add(1)
			continue
		}
		if st.Removed {
			m.mergeRemoval(ctx, st, false)
			continue
		}
		if fillIn != nil && !fillIn[st.ID] {
			continue
		}
		m.noteRoute(st.ID)
		renamed := fillIn != nil && m.renameForRepair(st.ID)
		s, added := m.st.getOrAdd(st.ID, func() *Session { return newTransferredReplica(m, st) })
		if s == nil {
			break // the manager stopped meanwhile
		}
		if fillIn != nil && !added && !renamed {
			continue
		}
		thp.Advise(unsafe.Pointer(s)) // while the transfer runs (thp.Hold above)
		s.loadTransferred(st)
		if fillIn == nil && carriesRefused(st) {
			m.shipped.Add(1) // transfer_unsent.go
		}
		m.loadedAboveRemoval(s, st)
		loaded++
	}
	m.stats.transferred.Add(uint64(loaded))
}

// arrivalPoll is how often a joiner looks whether a message from its donor still arrives
// after the donor said its transfer is complete (awaitArrival).
const arrivalPoll = 10 * time.Millisecond

// arriving reports whether the channel tells of a message from donor still arriving
// (*channel.Channel does: channel.ArrivalReporter); false when it cannot tell.
func (m *Manager) arriving(donor channel.Member) bool {
	a, ok := m.cl.ch.(interface{ Arriving(channel.Member) bool })
	return ok && a.Arriving(donor)
}

// awaitArrival runs when the donor said its transfer is complete. A Tomcat donor sends its
// "complete" on another connection than its sessions, so it can overtake a large message
// of sessions the transport is still receiving (channel.Channel.Arriving), and that
// message may yet be cut off (a Tomcat sender that gave up on it after its timeout).
// While a message from the donor is arriving, wait: it stops arriving once delivered
// (loaded) or reported lost, and a loss is reported before (lost is then the loss, as for
// sigLost). err ends the whole transfer (deadline, stop).
func (m *Manager) awaitArrival(ctx context.Context, donor channel.Member, sig <-chan transferSignal,
	deadline <-chan time.Time) (lost, err error) {
	if !m.arriving(donor) {
		return nil, nil
	}
	m.log.Info("delta: the donor said its transfer is complete while a message from it is still arriving; waiting for it",
		"donor", donor.Addr())
	tick := time.NewTicker(arrivalPoll)
	defer tick.Stop()
	for {
		select {
		case s := <-sig:
			if s.kind == sigLost {
				return s.err, nil
			}
		case <-tick.C:
			if m.arriving(donor) {
				continue
			}
			select { // a loss is reported before the message stops arriving
			case s := <-sig:
				if s.kind == sigLost {
					return s.err, nil
				}
			default:
			}
			return nil, nil
		case <-deadline:
			return nil, ErrStateTransferTimeout
		case <-ctx.Done():
			return nil, ErrStopped
		}
	}
}
