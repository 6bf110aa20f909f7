package delta

import (
	"context"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/gotribes/tribes/channel"
)

// A joiner's catch-up (catchup.go) reaches the members it lists when its transfer is
// complete, and those that list it before Config.MemberWait is over. Two kinds of member
// may still hold acknowledged changes the joiner got from nobody: one that lists the
// joiner later (it refused the catch-up until then), and one the joiner lists only after
// its catch-up listed the members (the two had not heard each other; the member's
// changes went to the others only). So the joiner goes on, once ready, until
// Config.CatchUpWindow after its start: it asks a member that refused again every
// askAgainAfter, and a member added since its catch-up began at once, for the sessions it
// sent a message about since the joiner started, and merges the answer into the copies
// it serves by the stamps (mergeLate): a copy's changes made here meanwhile stay. Each
// member is asked until it answers or acknowledges (then not again, below) or the window
// ends; one refusing still then is logged, as is one whose requests failed and that left
// since without answering. A request that fails otherwise (a send error,
// no answer, a message of the answer lost, the member gone) is one the member did not
// answer: it is asked again as one that refused, askAgainAfter later while it is listed,
// or once it is added again. A member done with (the donor too) that leaves and is added
// again within the window is asked again, askAgainAfter after it was last done with at
// the earliest: while the two did not list each other (a partition) its acknowledged
// changes went to the others only; one still to ask that leaves and is added again is
// asked as one back in view too (AskBack), since the joiner's changes made meanwhile went
// to the others only as well (TestJoinerMemberDueBackAgainAsksItBack: a member added in
// the window, still to ask, never got them). So is one whose request asks the joiner to ask it
// back (AskBack: its view dropped the joiner, the joiner's kept it), unless it was done
// with less than askAgainAfter ago (askBack). Such a member back, or one added again,
// still to ask when the window ends is then asked as a running node asks a member back
// (catchup_back.go; backDue). BinaryCodec only, as the catch-up.

// lateCatchUp is a joiner's late catch-up (Manager.late) while its window lasts.
type lateCatchUp struct {
	start, until time.Time
	wake         chan struct{} // a member to ask was added
	mu           sync.Mutex
	done         map[channel.MemberKey]time.Time // asked (answered, acknowledged or declined) at, or the donor
	gone         map[channel.MemberKey]bool      // done with or still to ask, and left the view since
	due          map[channel.MemberKey]time.Time // to ask, not before the time
	// back: done with or still to ask, then left the view and was added again (added): its request says
	// so (AskBack), as a running node's to a member back does (catchup_back.go), since
	// that member's view may have kept this node and seen nothing leave; it also brings
	// the changes the member took of a node that may have left meanwhile
	back map[channel.MemberKey]bool
	// reply: back because its own request asked this node to (askBack), not added again:
	// the request says so too (AskBackReply), and the member does not ask this node back
	reply map[channel.MemberKey]bool
	// ended: the window is over and its members back still to ask went to the running
	// node's (backDue); none is added to due after
	ended bool
	// adds counts the calls of added: next forgets a member it read out of the view only
	// if none came between its read of due and its removal (see next)
	adds uint64
}

// openLate starts the window of a joiner's late catch-up, which started at start and
// whose transfer donor completed; nil if Config.CatchUpWindow is negative or over.
func (m *Manager) openLate(start time.Time, donor channel.Member) *lateCatchUp {
	until := start.Add(m.cfg.CatchUpWindow)
	if m.cfg.CatchUpWindow < 0 || !time.Now().Before(until) {
		return nil
	}
	l := &lateCatchUp{start: start, until: until, wake: make(chan struct{}, 1),
		done: map[channel.MemberKey]time.Time{donor.Key(): time.Now()}, gone: map[channel.MemberKey]bool{},
		due: map[channel.MemberKey]time.Time{}, back: map[channel.MemberKey]bool{}, reply: map[channel.MemberKey]bool{}}
	m.late.Store(l)
	return l
}

// asked records the outcome of a request to the member k: again (it refused, FAIL_ACK, or
// the request failed), it is asked again after askAgainAfter; else it is done with. l may
// be nil (no window).
func (l *lateCatchUp) asked(k channel.MemberKey, again bool) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if again {
		l.due[k] = time.Now().Add(askAgainAfter)
		return
	}
	delete(l.due, k)
	delete(l.gone, k)
	delete(l.back, k)
	delete(l.reply, k)
	l.done[k] = time.Now()
}

// askBits returns the bits the request to the member k carries beside AskRecent: AskBack
// for a member back in the view (lateCatchUp.back), with AskBackReply for one whose
// request asked this node to (lateCatchUp.reply).
func (l *lateCatchUp) askBits(k channel.MemberKey) uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.back[k] && l.reply[k]:
		return AskBack | AskBackReply
	case l.back[k]:
		return AskBack
	}
	return 0
}

// removed records that the member k left the view: one done with is asked again once it is
// added again (added), and one still to ask is then asked back too (AskBack: what this
// node did meanwhile went to the others only; TestJoinerMemberDueBackAgainAsksItBack).
func (l *lateCatchUp) removed(k channel.MemberKey) {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, done := l.done[k]
	_, due := l.due[k]
	if done || due {
		l.gone[k] = true
	}
}

// added records that the member k was added to the view: it is asked at once unless it
// was done with and did not leave since; one that refused (or whose request failed), or
// was done with, less than askAgainAfter ago is asked when that is over (a member that
// leaves and comes back over and over is asked no more often than one that stays).
func (l *lateCatchUp) added(k channel.MemberKey) {
	l.mu.Lock()
	now := time.Now() // under l.mu: not before backDue's time if after it
	l.adds++
	doneAt, done := l.done[k]
	if done && !l.gone[k] || l.ended || !now.Before(l.until) {
		l.mu.Unlock()
		return
	}
	earliest := now
	// Back in the view: whatever this node did while k was out of it went to the
	// others only, so a request that was to be a reply to k's own (askBack) asks k back
	// now (TestJoinerReplyToAMemberBackAgainAsksItBack), due or done with.
	delete(l.reply, k)
	if l.gone[k] {
		delete(l.gone, k)
		l.back[k] = true
	}
	if done {
		delete(l.done, k)
		if again := doneAt.Add(askAgainAfter); again.After(now) {
			earliest = again
		}
	}
	if at, ok := l.due[k]; !ok || at.Before(earliest) {
		l.due[k] = earliest
	}
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// askBack has the member k asked again, its request saying so (AskBack, and
// AskBackReply unless k was added again meanwhile), as k's own request asked
// (Manager.askedBack): k's view dropped this node while this one's kept k,
// so added was not called, and k's changes made meanwhile went to the others only. One
// due already is asked as due, with AskBack; one done with less than askAgainAfter ago
// (it answered a moment ago) is not asked again. False if the window is over, or its
// members back went to the running node's (backDue, TestAskBackAtTheWindowsEndIsNotLost):
// the caller then asks it as a running node does.
func (l *lateCatchUp) askBack(k channel.MemberKey) bool {
	l.mu.Lock()
	now := time.Now() // under l.mu: not before backDue's time if after it
	if l.ended || !now.Before(l.until) {
		l.mu.Unlock()
		return false
	}
	if doneAt, done := l.done[k]; done && doneAt.Add(askAgainAfter).After(now) {
		l.mu.Unlock()
		return true
	}
	if !l.back[k] {
		l.reply[k] = true
	}
	l.back[k] = true
	if _, due := l.due[k]; !due {
		delete(l.done, k)
		delete(l.gone, k)
		l.due[k] = now
	}
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
	return true
}

// next returns the member to ask now, or how long until one is due (until the window's
// end if none is). A member no longer in ch's view is forgotten once it is due: added
// asks it again (one due later stays until then, for added's bound). The view is read
// without l.mu, which memberAdded takes: a member added again between that read and the
// removal is not forgotten. Its due time does not tell (added leaves one already due
// as it is), so no member is forgotten if any was added since due was read (adds); the
// next call, woken by added, finds it in the view and asks it. Forgotten so, it was
// asked neither in the window nor after it (backDue): TestLateNextKeepsAMemberAddedAgainMeanwhile.
func (l *lateCatchUp) next(ch Channel) (channel.Member, time.Duration, bool) {
	now := time.Now()
	wait := l.until.Sub(now)
	l.mu.Lock()
	due, adds := maps.Clone(l.due), l.adds
	l.mu.Unlock()
	for k, at := range due {
		mem, ok := ch.Member(k)
		switch {
		case !ok && at.After(now):
		case !ok:
			l.mu.Lock()
			if cur, ok := l.due[k]; ok && cur.Equal(at) && l.adds == adds { // not added again meanwhile
				delete(l.due, k)
			}
			l.mu.Unlock()
		case !at.After(now):
			return mem, 0, true
		default:
			wait = min(wait, at.Sub(now))
		}
	}
	return channel.Member{}, wait, false
}

// backDue removes from l.due, once the window is over, the members back in view (back)
// still to ask, and returns them: the running node asks them (queueBack). An AskBack
// that came while the window was open, but whose request this node had not made when it
// ended (it was asking another member, TestMemberBackAskingAtAJoinersWindowEndGetsTheRenames),
// would be lost otherwise: queueBack had left it to the window. None is added after
// (ended): askBack then returns false, and its caller asks the member as a running node.
func (l *lateCatchUp) backDue() []channel.MemberKey {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ended = true
	var ks []channel.MemberKey
	for k := range l.due {
		if l.back[k] {
			ks = append(ks, k)
			delete(l.due, k)
		}
	}
	return ks
}

// snapshot returns a copy of l.due.
func (l *lateCatchUp) snapshot() map[channel.MemberKey]time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return maps.Clone(l.due)
}

// left returns the members not caught up with (the window ended), by address: those
// listed still to ask, and those whose requests failed (fails) that are no longer listed
// and did not answer since (they left for good, or came back as another run, under
// another key); and the number of failed requests of those whose requests failed. The
// view is read without l.mu, as in next.
func (l *lateCatchUp) left(ch Channel, fails *askFailures) ([]string, map[string]int) {
	var addrs []string
	failed := map[string]int{}
	counts := fails.all()
	l.mu.Lock()
	for k := range l.done {
		delete(counts, k) // answered, or the donor
	}
	l.mu.Unlock()
	for k := range l.snapshot() {
		if mem, ok := ch.Member(k); ok {
			addrs = append(addrs, mem.Addr())
			if c := counts[k]; c.n > 0 {
				failed[mem.Addr()] += c.n
			}
		}
	}
	for k, c := range counts {
		if _, listed := ch.Member(k); !listed {
			addrs = append(addrs, c.addr)
			failed[c.addr] += c.n
		}
	}
	slices.Sort(addrs)
	return slices.Compact(addrs), failed
}

// startLateLocked starts the late catch-up of a manager that just became ready, if its
// window is open (m.mu held, the state running).
func (m *Manager) startLateLocked() {
	if l := m.late.Load(); l != nil {
		m.wg.Add(1) // under m.mu while running, so never concurrent with Stop's Wait
		go m.runLate(m.bg, l)
	}
}

// runLate asks the members of l as they fall due, until the window ends or the manager
// stops.
func (m *Manager) runLate(ctx context.Context, l *lateCatchUp) {
	defer m.wg.Done()
	defer m.late.CompareAndSwap(l, nil)
	for {
		if !time.Now().Before(l.until) {
			for _, k := range l.backDue() { // asked as a running node asks a member back
				m.queueBack(k, l.start, false)
			}
			if addrs, failed := l.left(m.cl.ch, &m.askFails); len(addrs) > 0 {
				m.log.Warn("delta: could not catch up with members: they refused the request, or it failed, until "+
					"CatchUpWindow after this node's start, or until they left (they did not list it, run no session "+
					"manager, or were unreachable)",
					"members", addrs, "failedRequests", failed, "window", m.cfg.CatchUpWindow)
			}
			return
		}
		mem, wait, ok := l.next(m.cl.ch)
		if !ok {
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-l.wake:
			case <-ctx.Done():
			}
			t.Stop()
			if ctx.Err() != nil {
				return
			}
			continue
		}
		again, err := m.askLate(ctx, mem, l.start, l.askBits(mem.Key()))
		if err != nil {
			return
		}
		l.asked(mem.Key(), again)
	}
}

// askLate asks mem for the sessions it sent a message about since start, once (the
// request's Version with the bits extra too), and merges its answer (mergeLate); again when it refused or the request failed (askRecent),
// err when the manager stops. A refresh or a repair that waits for attemptMu
// (lockAttempt) ends the request, waiting for an acknowledgement or for the answer after
// an ack timeout (up to TransferIdleTimeout): the member is then asked again as one that
// refused.
func (m *Manager) askLate(ctx context.Context, mem channel.Member, start time.Time, extra uint64) (again bool, err error) {
	m.attemptMu.Lock() // one request for every session of a running manager at a time
	defer m.attemptMu.Unlock()
	actx, cancel := context.WithCancel(ctx)
	defer cancel()
	if !m.yield.hold(cancel) {
		return true, nil
	}
	defer m.yield.hold(nil)
	sig := make(chan transferSignal, 2) // as runTransfer's
	id, ok := m.beginMerge(mem, sig)
	if !ok {
		return false, ErrStopped
	}
	defer m.endAttempt()
	out, err := m.askRecent(actx, mem, sig, id, start, nil, extra)
	if err != nil && ctx.Err() == nil { // it gave way
		return true, nil
	}
	return out != askDone, err
}

// lateYield has a late catch-up's request give way to a refresh or a repair
// (Manager.lockAttempt). mu is taken last.
type lateYield struct {
	mu      sync.Mutex
	waiting int                // refreshes and repairs waiting for attemptMu
	cancel  context.CancelFunc // ends the late request holding attemptMu
}

// hold records cancel as ending the late request that holds attemptMu (nil: it ends);
// false if a refresh or a repair waits for attemptMu.
func (y *lateYield) hold(cancel context.CancelFunc) bool {
	y.mu.Lock()
	defer y.mu.Unlock()
	if cancel != nil && y.waiting > 0 {
		return false
	}
	y.cancel = cancel
	return true
}

// lockAttempt takes attemptMu for a refresh or a repair, ending a late catch-up's request
// that holds it.
func (m *Manager) lockAttempt() {
	m.yield.mu.Lock()
	m.yield.waiting++
	if m.yield.cancel != nil {
		m.yield.cancel()
	}
	m.yield.mu.Unlock()
	m.attemptMu.Lock()
	m.yield.mu.Lock()
	m.yield.waiting--
	m.yield.mu.Unlock()
}

// mergeLate merges st, a member's copy in a late catch-up's answer, into s, this running
// node's copy (added: just made for it from st; renamed: renamed to st's id for it).
// Unlike a refresh's merge, a copy held is not replaced by a newer one but takes what
// wins by the stamps and the newer version: the node serves its sessions meanwhile, and
// changes made here stay, those not sent yet (as a refresh keeps them) and those on their
// way to that member. A copy that cannot be merged by the stamps (one side sent none) is
// loaded over when the member's is newer, keeping this node's changes not sent yet or on
// their way as a refresh does (loadIfUnstamped); else it stays as it is, at its own
// version. A copy added while an expiry of its session arrived (whose lookup did not find
// it yet) goes.
func (m *Manager) mergeLate(ctx context.Context, s *Session, st *SessionState, added bool) {
	switch {
	case added:
		s.loadTransferred(st)
		if m.gone.coversCopy(st.ID, st.Version, st.born) {
			_ = m.expire(ctx, s, false, causeInvalidated, true)
			return
		}
	case s.loadIfUnstamped(st):
	default:
		ns, changed := s.mergeStamped(st, m.notifyReplicated())
		m.fire(ctx, s, true, ns...)
		if !s.raiseVersion(st) && !changed {
			m.dropOlderNames(ctx, s, st.Version)
			return
		}
	}
	// for a member back (AskBack): TestTakenThroughAMergeAnswersAMemberBack
	s.noteTaken()
	if s.ID() == st.ID { // not a copy this node renamed since (mergeSessions)
		m.loadedAboveRemoval(s, st)
	}
	m.dropOlderNames(ctx, s, st.Version)
	m.stats.refreshed.Add(1)
}

// loadIfUnstamped loads st over the copy when the two cannot be merged by their stamps
// (one came from a node that sends none) and st is newer, keeping this node's changes not
// sent yet or on their way (loadKeepingUnsent, as a refresh's load): they stay pending,
// and its next delta sends them.
func (s *Session) loadIfUnstamped(st *SessionState) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st.stamped && !s.unstamped || s.expiring || !s.valid || s.version >= st.Version {
		return false
	}
	s.loadKeepingUnsent(st)
	return true
}

// raiseVersion records that the copy holds the changes of st, a member's copy, merged by
// their stamps; false if it held st's version already, or the two could not be merged
// (one carries no stamps): the copy lacks st's changes, and a later copy of that version
// (a refresh's) must still be taken.
func (s *Session) raiseVersion(st *SessionState) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !st.stamped || s.unstamped || !s.valid || s.expiring || s.version >= st.Version {
		return false
	}
	s.version = st.Version
	return true
}
