package delta

import (
	"context"
	"maps"
	"sync"
	"time"

	"github.com/gotribes/tribes/channel"
)

// A member that leaves the view and comes back under the same key (a partition healed,
// or its membership timed it out while it kept running with its sessions) missed what
// was sent while the two did not list each other: the changes, removals and renames
// this node made or passed on went to the others only. A session this node renamed (a
// login's ChangeSessionID, the binder's) stayed on that member under its old id, the
// client's new id finding no session there, and a change stayed missing until the
// session's next delta. A joiner asks such a member again within its window
// (catchup_late.go), its request saying so (AskBack) as below
// (TestJoinerMemberBackInOneViewOnlyGetsTheRenames); past it, and on a node that never joined, each running node asks a
// member added again for the sessions it sent a message about, or took another node's
// change of, since it left (with catchUpSlack: a node that left for good meanwhile
// reached this one only, TestMemberBackGetsTheChangesOfANodeThatLeftMeanwhile), and the records of the removals and renames it noted since, and merges
// its answer as a late catch-up does (mergeLate): the copy under an old id goes, the
// session under its new id carries the member's state where that wins by the stamps
// (TestMemberBackAfterLeavingGetsTheRenamesMadeMeanwhile). The member does the same
// with this node; and since its own view may have kept this node (it saw nothing leave),
// the request says so (AskBack): the member asks this node back for the same time,
// unless it asks or asked it already (TestMemberBackInOneViewOnlyGetsTheRenames), its
// request saying it is a reply (AskBackReply), which this node answers without asking
// the member back again: with requests slower than askAgainAfter, the two asked each
// other back for ever (TestSlowAskBacksDoNotAskEachOtherForEver); a
// member whose own joiner's window is open has its late catch-up ask this node so
// (TestMemberBackAskingAJoinerInItsWindowGetsTheRenames). A
// member that refuses the request (it does not list this node yet) or whose request
// fails is asked again askAgainAfter later while it is listed, for Config.CatchUpWindow
// after it came back; one that leaves again is asked once it is back, from the time it
// first left; one that comes back over and over is asked at most once every
// askAgainAfter (TestMemberBackOverAndOverAskedOnceASecond). A negative CatchUpWindow
// asks no member back. Nor does a manager with a quorum (Config.ClusterSize): a node
// cut off from the majority refreshes its copies from the members once it has the
// quorum again (refresh.go), one cut off from some members only stands down and
// refreshes too (cut.go), and its changes made meanwhile were refused: the refresh
// brings it what asking the members back would, a third node's changes made meanwhile
// included (TestMemberBackWithQuorumGetsTheChangesOfANodeThatLeftMeanwhile), and
// asking them back too would only add a request per member back beside the refresh's.
// At most maxBack members are remembered as gone, the ones that left first forgotten
// beyond it (TestMembersGoneBounded). BinaryCodec only, as the
// catch-up.

// maxBack bounds the members a manager remembers as gone, and those it is to ask.
const maxBack = 1024

// backCatchUp is a running manager's record of the members that left the view, and of
// those back to ask (Manager.back).
type backCatchUp struct {
	mu      sync.Mutex
	left    map[channel.MemberKey]time.Time // gone from the view since then
	due     map[channel.MemberKey]backDue   // back: to ask
	done    map[channel.MemberKey]time.Time // asked lately (within askAgainAfter), at
	running bool                            // runBack's goroutine runs
	wake    chan struct{}                   // a member to ask was added
}

// backDue is a member to ask: for what it sent since since, not before at, until until;
// reply when because its request asked this node to (askedBack), so that this node's
// request says so (AskBackReply) and the member does not ask it back in turn.
type backDue struct {
	since, at, until time.Time
	reply            bool
}

// backOn reports whether the manager asks members that come back: BinaryCodec, and no
// quorum (with one, refresh.go and cut.go do it).
func (m *Manager) backOn() bool {
	_, ok := m.cl.codec.(batchCodec)
	return ok && m.cfg.CatchUpWindow >= 0 && m.quorum == 0
}

// memberLeft records that the member k left the view of a running manager.
func (m *Manager) memberLeft(k channel.MemberKey) {
	if !m.backOn() {
		return
	}
	m.mu.Lock()
	running := m.state == stateRunning
	m.mu.Unlock()
	if !running {
		return // a joiner: its window asks the members back (catchup_late.go)
	}
	now := time.Now()
	b := &m.back
	b.mu.Lock()
	defer b.mu.Unlock()
	if d, ok := b.due[k]; ok { // left before it was asked: from the time it first left
		delete(b.due, k)
		now = d.since
	}
	if b.left == nil {
		b.left = map[channel.MemberKey]time.Time{}
	}
	if at, ok := b.left[k]; !ok || now.Before(at) {
		b.left[k] = now
	}
	if len(b.left) > maxBack {
		first, at := channel.MemberKey{}, time.Time{}
		for k, t := range b.left {
			if at.IsZero() || t.Before(at) {
				first, at = k, t
			}
		}
		delete(b.left, first)
	}
}

// memberBack has the member k, added to the view, asked for what it sent since it left,
// if it did leave this running manager's view (a joiner's window asks it itself).
func (m *Manager) memberBack(k channel.MemberKey) {
	b := &m.back
	b.mu.Lock()
	since, ok := b.left[k]
	delete(b.left, k)
	b.mu.Unlock()
	if ok {
		m.queueBack(k, since, false)
	}
}

// askedBack has the member k asked for what it sent since since (unix ms), as its
// request asks (AskBack without AskBackReply): its view dropped this node, though this
// one may have kept it listed, so neither's messages reached the other. This node's
// request is a reply (AskBackReply). A member this node asks already, or asked lately,
// or that it does not list (it asks it once it is added), is not asked again.
func (m *Manager) askedBack(k channel.MemberKey, since int64) {
	if !m.backOn() {
		return
	}
	m.mu.Lock()
	running := m.state == stateRunning
	m.mu.Unlock()
	if _, listed := m.cl.ch.Member(k); !running || !listed {
		return
	}
	m.queueBack(k, time.UnixMilli(since), true)
}

// queueBack has the member k asked for what it sent since since; lately, unless it
// was asked within askAgainAfter (then not at all, or once that is over).
func (m *Manager) queueBack(k channel.MemberKey, since time.Time, lately bool) {
	if l := m.late.Load(); l != nil && time.Now().Before(l.until) && (!lately || l.askBack(k)) {
		// The joiner's window is open: it asks the member again, as one back in its view
		// (lateCatchUp.added), or as one whose request asks it to though its view kept it
		// (lateCatchUp.askBack, TestMemberBackAskingAJoinerInItsWindowGetsTheRenames).
		return
	}
	b := &m.back
	b.mu.Lock()
	now := time.Now()
	if b.due == nil {
		b.due = map[channel.MemberKey]backDue{}
	}
	_, due := b.due[k]
	_, gone := b.left[k]
	at := now
	if done, ok := b.done[k]; ok && done.Add(askAgainAfter).After(now) {
		if lately {
			b.mu.Unlock()
			return // it answered this node a moment ago
		}
		at = done.Add(askAgainAfter) // back over and over: asked no more often than once a second
	}
	if lately && (due || gone) || len(b.due) >= maxBack {
		b.mu.Unlock()
		return
	}
	b.due[k] = backDue{since: since, at: at, until: at.Add(m.cfg.CatchUpWindow), reply: lately}
	if b.wake == nil {
		b.wake = make(chan struct{}, 1)
	}
	start := !b.running
	b.running = true
	wake := b.wake
	b.mu.Unlock()
	if !start {
		select {
		case wake <- struct{}{}:
		default:
		}
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.state != stateRunning {
		b.mu.Lock()
		b.running = false
		clear(b.due)
		b.mu.Unlock()
		return
	}
	m.wg.Add(1) // under m.mu while running, so never concurrent with Stop's Wait
	go m.runBack(m.bg)
}

// next returns the member to ask now, since when and the bits its request carries
// (AskBack, and AskBackReply for a reply), or how long until one is due; ok false and
// wait 0 when none is left (the goroutine then ends, running false). A member
// no longer listed is remembered as gone again from its since; one whose time is over
// is forgotten with a warning. The view is read without b.mu, which the membership
// listener takes (memberLeft, memberBack).
func (b *backCatchUp) next(m *Manager) (mem channel.Member, since time.Time, bits uint64, wait time.Duration, ok bool) {
	b.mu.Lock()
	due := maps.Clone(b.due)
	b.mu.Unlock()
	listed := make(map[channel.MemberKey]channel.Member, len(due))
	for k := range due {
		if cur, ok := m.cl.ch.Member(k); ok {
			listed[k] = cur
		}
	}
	now := time.Now()
	b.mu.Lock()
	defer b.mu.Unlock()
	wait = -1
	for k, d := range b.due {
		cur, ok := listed[k]
		if _, read := due[k]; !read || d != due[k] {
			wait = 0 // added or changed meanwhile: look again
			continue
		}
		switch {
		case !ok:
			delete(b.due, k)
			m.askFails.forget(k)
			if at, had := b.left[k]; (!had || d.since.Before(at)) && len(b.left) < maxBack {
				b.left[k] = d.since
			}
		case !now.Before(d.until):
			delete(b.due, k)
			m.log.Warn("delta: could not catch up with a member back in view: it refused the request, or it failed, "+
				"for CatchUpWindow", "member", cur.Addr(), "failedRequests", m.askFails.count(k))
			m.askFails.forget(k)
		case !d.at.After(now):
			bits = AskBack
			if d.reply {
				bits |= AskBackReply
			}
			return cur, d.since, bits, 0, true
		case wait < 0 || d.at.Sub(now) < wait:
			wait = d.at.Sub(now)
		}
	}
	if wait < 0 {
		b.running = false
		return channel.Member{}, time.Time{}, 0, 0, false
	}
	return channel.Member{}, time.Time{}, 0, max(wait, time.Millisecond), false
}

// asked records the outcome of a request to k: again, it is asked askAgainAfter later;
// else it is done with, and not asked again before askAgainAfter is over.
func (b *backCatchUp) asked(m *Manager, k channel.MemberKey, again bool) {
	now := time.Now()
	b.mu.Lock()
	defer b.mu.Unlock()
	d, ok := b.due[k]
	switch {
	case !ok:
	case again:
		d.at = now.Add(askAgainAfter)
		b.due[k] = d
	default:
		delete(b.due, k)
		m.askFails.forget(k)
		if b.done == nil {
			b.done = map[channel.MemberKey]time.Time{}
		}
		maps.DeleteFunc(b.done, func(_ channel.MemberKey, at time.Time) bool { return !at.Add(askAgainAfter).After(now) })
		if len(b.done) < maxBack {
			b.done[k] = now
		}
	}
}

// stop forgets the members to ask (the manager stops).
func (b *backCatchUp) stop() {
	b.mu.Lock()
	defer b.mu.Unlock()
	clear(b.due)
	b.running = false
}

// runBack asks the members back in view as they fall due, until none is left or the
// manager stops.
func (m *Manager) runBack(ctx context.Context) {
	defer m.wg.Done()
	b := &m.back
	b.mu.Lock()
	wake := b.wake
	b.mu.Unlock()
	for {
		mem, since, bits, wait, ok := b.next(m)
		if !ok {
			if wait == 0 {
				return
			}
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-wake:
			case <-ctx.Done():
			}
			t.Stop()
			if ctx.Err() != nil {
				b.stop()
				return
			}
			continue
		}
		m.log.Info("delta: a member is back in view; asking it for what it sent since it left",
			"member", mem.Addr(), "left", since)
		again, err := m.askLate(ctx, mem, since, bits)
		if err != nil {
			b.stop()
			return
		}
		b.asked(m, mem.Key(), again)
	}
}
