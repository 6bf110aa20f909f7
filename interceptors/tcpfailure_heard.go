package interceptors

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/callq"
)

// A member of the layer below heard from before the detector verified it: its listing,
// and its messages held until its announcement went up (see MessageReceived).

// heardFromWait bounds MessageReceived's wait for a message held behind its member's
// announcement, when the message is not synchronized-ack. It is no Config field: Tomcat
// has no counterpart (its detector passes every message up on the receiving thread), and
// it changes neither whether nor in what order the message goes up, only how long the
// receiving goroutine waits for that before it takes its next message; such a message's
// sender had its ACK, if it asked for one, before the message was delivered, and is told
// nothing of its delivery either way. A synchronized-ack message is waited for until it
// went up (waitHeld).
const heardFromWait = time.Second

// The caps on a member's held messages (Config.MaxHeldSets, MaxHeldMessages): at most so
// many sets of them at once (each held behind one of the member's announcements, or
// removals, still to go up), and at most so many messages in each. A message beyond either
// is dropped (see MessageReceived): without them, a message listener that blocks for ever
// on one of them while the member is dropped and listed again and again would have the
// detector hold a set, a goroutine and the member's events for every listing
// (TestFailureDetectorHeldMessagesStayBoundedWhileAListenerBlocks).

// ErrHeldLimit is wrapped by the error for a message TCPFailureDetector dropped because
// its member's messages held behind its announcement reached their cap (see
// TCPFailureDetector.MessageReceived).
var ErrHeldLimit = errors.New("tribes: tcpfailure: messages held behind their member's announcement over their cap")

// heldOverLocked reports whether hs holds as many messages as it may. Caller holds d.mu.
func (d *TCPFailureDetector) heldOverLocked(hs *heldMsgs) bool {
	return len(hs.msgs) >= d.cfg.MaxHeldMessages
}

// ErrHeldSuperseded is wrapped by the error for a message TCPFailureDetector dropped
// because it was still held, behind its member's removal, when the member was listed
// again, and could not go up before that announcement (see TCPFailureDetector.settleHeld).
var ErrHeldSuperseded = errors.New("tribes: tcpfailure: message held behind its member's removal dropped: the member was listed again first")

// dropOver counts and logs msg (nil: a probe, neither) dropped over the caps (see
// MessageReceived) and returns the error MessageReceived returns for it.
func (d *TCPFailureDetector) dropOver(msg *channel.Message, why string) error {
	return d.dropHeld(msg, why, ErrHeldLimit)
}

// dropHeld counts and logs msg (nil: a probe, neither), dropped for why, and returns the
// error, wrapping kind, that MessageReceived returns for it.
func (d *TCPFailureDetector) dropHeld(msg *channel.Message, why string, kind error) error {
	if msg == nil {
		return nil
	}
	n := d.heldDropped.Add(1)
	if msg.Options.WaitsForAck() && !msg.Options.IsSyncAck() {
		d.heldDroppedAcked.Add(1) // acked on receipt: lost, its sender not told
	}
	if n&(n-1) == 0 { // the first, then every power of two
		d.log.Warn("tcp failure detector: message of a member not verified dropped: "+why,
			"member", msg.Source.String(), "dropped", n)
	}
	return fmt.Errorf("tcpfailure: message of %s dropped: %s: %w", msg.Source.Addr(), why, kind)
}

// heldMsgs are the messages of a member listed again on its message, held until the
// member's announcement went up and then passed up in order by one goroutine (releaseHeld).
type heldMsgs struct {
	announced chan struct{}   // closed once the announcement went up
	msgs      []*heldMsg      // not passed up yet, in the order they came
	upNow     *heldMsg        // the one releaseHeld took last (going up until its done is closed)
	passing   callq.Queue     // runs releaseHeld's passing, to tell its goroutine (InCall)
	starting  callq.Queue     // runs releaseHeld's delivering of the events, likewise
	gone      *channel.Member // the member's removal, queued behind these messages (dropLocked)
	after     <-chan struct{} // the member's earlier held messages' finished (nil: none)
	prev      *heldMsgs       // those earlier messages, until after is closed (nil: none)
	listed    bool            // held behind the member's announcement (else behind its removal, unlisted)
	inline    bool            // releaseHeld delivers the events on its own goroutine first (no run)
	counted   bool            // counted in heldSets (not held behind a queued addition)
	finished  chan struct{}   // closed once releaseHeld passed these up and returned
}

// heldMsg is one message held behind its member's announcement.
type heldMsg struct {
	msg     *channel.Message
	in      *heldMsgs       // the member's held messages
	stopped <-chan struct{} // closed when the run the message came in stops (nil: none ran)
	done    chan struct{}   // closed once the message went up
	err     error           // what the layers above returned, once done is closed
}

// addLocked holds msg (nil: none, a probe) behind the others and returns it. Caller holds
// d.mu.
func (d *TCPFailureDetector) addLocked(hs *heldMsgs, msg *channel.Message) *heldMsg {
	if msg == nil {
		return nil
	}
	h := &heldMsg{msg: msg, in: hs, done: make(chan struct{})}
	if d.endLife != nil {
		h.stopped = d.life.Done()
	}
	hs.msgs = append(hs.msgs, h)
	return h
}

// waitHeld returns the error of h's message once it went up. It waits at most
// heardFromWait for a message that is not synchronized-ack, and returns nil then. It waits
// for a synchronized-ack message until it went up, or until the run it came in stops: it
// then returns an error wrapping channel.ErrNotStarted (the sender gets a FAIL_ACK), and
// the message, if not under way yet, never goes up.
func (d *TCPFailureDetector) waitHeld(h *heldMsg) error {
	if !h.msg.Options.IsSyncAck() {
		t := time.NewTimer(heardFromWait)
		defer t.Stop()
		select {
		case <-h.done:
			return h.err
		case <-t.C:
			return nil
		}
	}
	select {
	case <-h.done:
		return h.err
	case <-h.stopped:
	}
	d.mu.Lock()
	i := slices.Index(h.in.msgs, h)
	if i >= 0 {
		h.in.msgs = slices.Delete(h.in.msgs, i, i+1)
	}
	d.mu.Unlock()
	if i >= 0 {
		return fmt.Errorf("tcpfailure: the detector stopped before a synchronized-ack message held behind its member's announcement went up; dropped: %w", channel.ErrNotStarted)
	}
	select {
	case <-h.done:
		return h.err
	default:
		return fmt.Errorf("tcpfailure: the detector stopped while a synchronized-ack message held behind its member's announcement was going up: %w", channel.ErrNotStarted)
	}
}

// heardFrom takes a message from k as proof that k is alive (see MessageReceived). When it
// lists k, or k's messages wait for its announcement still, msg (nil: none, a probe) is
// held behind the announcement and returned, for the caller to wait for; otherwise it
// returns nil and the caller passes msg up itself. When it lists k with the detector
// stopped (no run to pass the held messages up from, nor to wait for that goroutine), it
// returns release too, which the caller runs first: it passes the announcement and k's
// held messages up on the caller's goroutine, as a stopped detector passes every message
// (TestFailureDetectorStoppedDetectorPassesHeldMessagesOnTheReceiveGoroutine).
//
// A message that comes once k's removal was queued behind its held messages (dropLocked)
// does not join them: it lists k again if the layer below lists it, as for any unlisted
// member, and is held behind that announcement, queued after the removal, or else behind
// the removal itself, so that it goes up after the messages before it
// (TestFailureDetectorMessageAfterItsMembersRemovalListsItAgain). One held behind the
// removal so, k unlisted, is joined by k's later messages only while the layer below does
// not list k either: one that finds k listed below lists k again, behind them
// (TestFailureDetectorMessageHeldBehindARemovalListsItsMemberBackAgain).
func (d *TCPFailureDetector) heardFrom(k channel.MemberKey, msg *channel.Message) (h *heldMsg, release func(), err error) {
	d.mu.Lock()
	d.initLocked()
	if q := d.queues[k]; q != nil {
		q.heard++
	}
	prev := d.held[k]
	if prev != nil && prev.gone == nil && prev.listed {
		if d.heldOverLocked(prev) {
			d.mu.Unlock()
			return nil, nil, d.dropOver(msg, d.msgsOver())
		}
		h := d.addLocked(prev, msg)
		d.mu.Unlock()
		return h, nil, nil
	}
	_, known := d.view[k]
	d.mu.Unlock()
	if prev == nil {
		if known {
			if msg == nil || !d.additionQueued(k) {
				return nil, nil, nil
			}
		} else if _, below := d.Next().Member(k); !below {
			return nil, nil, nil
		}
	}
	d.evMu.Lock()
	defer d.evMu.Unlock()
	d.mu.Lock()
	prev = d.held[k]
	if prev != nil && prev.gone == nil && prev.listed {
		// Listed meanwhile, by a message received on another goroutine, whose messages are
		// still held: msg goes up behind them, so that one goroutine passes k's messages up
		// in the order they came
		// (TestFailureDetectorHeldMessagesOfAMemberDroppedMeanwhileKeepTheirOrder).
		if d.heldOverLocked(prev) {
			d.mu.Unlock()
			return nil, nil, d.dropOver(msg, d.msgsOver())
		}
		h = d.addLocked(prev, msg)
		d.mu.Unlock()
		return h, nil, nil
	}
	var m channel.Member
	list, queued := false, false
	if _, known := d.view[k]; !known {
		// Asked again with the view locked: a disappearance the layer below reports after
		// this look finds the member listed (its op reads the view under d.mu) and goes up
		// after the addition; one reported before it leaves the member unlisted here, as
		// the layer below does (TestFailureDetectorHeardFromAMemberDroppedMeanwhile).
		m, list = d.Next().Member(k)
	} else if prev == nil && msg != nil {
		// Listed, but its addition still queued (behind a membership listener that
		// blocks): msg is held behind it, as behind an announcement of its own, so that
		// it does not go up before it, and the addition, the listeners having the
		// member's message, is no longer cancelled by its removal (queueUp)
		// (TestFailureDetectorMessageWaitsForItsMembersQueuedAddition).
		queued = d.additionQueued(k)
	}
	if !list && !queued && (prev == nil || msg == nil) {
		d.mu.Unlock()
		return nil, nil, nil
	}
	if !list && !queued && prev.gone == nil {
		// Held behind k's removal, unlisted, and k is listed neither here nor below: msg
		// goes up behind them.
		if d.heldOverLocked(prev) {
			d.mu.Unlock()
			return nil, nil, d.dropOver(msg, d.msgsOver())
		}
		h = d.addLocked(prev, msg)
		d.mu.Unlock()
		return h, nil, nil
	}
	if !queued && d.heldSets[k] >= d.cfg.MaxHeldSets {
		// k is not listed (again): it would be once its sets went up. A set behind k's
		// queued addition is made only while k has none (prev nil), so k has at most one
		// at a time: it is not counted, and takes no room from the sets behind k's
		// listings and removals (TestFailureDetectorQueuedAdditionsSetIsNotCounted).
		d.mu.Unlock()
		return nil, nil, d.dropOver(msg, d.setsOver())
	}
	g := d.run
	if g != nil {
		// d.run is not left to stopping (finished) while d.mu is held: the goroutine the
		// messages go up from is one of g's (releaseHeld).
		g.wg.Add(1)
	}
	if list {
		delete(d.addSuspects, k)
		d.view[k] = m
		if prev != nil && prev.gone == nil {
			// k's messages held behind its removal, unlisted, go up before it is listed
			// again, as those held behind an announcement go up before the removal.
			d.queueUp(g, evOther, func(m channel.Member) {
				d.flushHeld(k, prev)
				d.Prev().MemberAdded(m)
			}, m)
		} else if prev != nil {
			// prev's removal went up before this announcement, but messages of prev (or of
			// an earlier set) it left to their goroutine (run inside a listener of one of
			// them: flushHeld) may still wait: they go up, or are dropped, before it
			// (settleHeld), not after it as the new listing's.
			d.queueUp(g, evOther, func(m channel.Member) {
				d.settleHeld(prev)
				d.Prev().MemberAdded(m)
			}, m)
		} else {
			d.queueUp(g, evAdded, d.Prev().MemberAdded, m)
		}
	}
	hs := &heldMsgs{announced: make(chan struct{}), finished: make(chan struct{}), listed: list || queued,
		inline: g == nil, counted: !queued}
	if prev != nil {
		hs.after, hs.prev = prev.finished, prev // the messages prev's removal left to its goroutine
	}
	d.pushEvent(&fdEvent{k: k, f: func() { close(hs.announced) }}) // right behind the announcement
	h = d.addLocked(hs, msg)
	d.held[k] = hs
	if hs.counted {
		d.heldSets[k]++
	}
	d.mu.Unlock()
	if list {
		d.log.Info("tcp failure detector: member heard from; listed again", "member", m.String())
	}
	if g == nil {
		return h, func() { d.releaseHeld(nil, k, hs) }, nil
	}
	g.Go(func() { d.releaseHeld(g, k, hs) })
	g.wg.Done()
	return h, nil, nil
}

// Why a message was dropped over the caps (dropOver).
func (d *TCPFailureDetector) msgsOver() string {
	return fmt.Sprintf("its held messages are at their cap (%d)", d.cfg.MaxHeldMessages)
}

func (d *TCPFailureDetector) setsOver() string {
	return fmt.Sprintf("its sets of held messages are at their cap (%d)", d.cfg.MaxHeldSets)
}

// releaseHeld has the events delivered, unless another goroutine delivers them (on a
// goroutine of g of its own, or, g nil, first on the caller's), waits for k's
// announcement, and then passes k's held messages up, in order, until none is left, as a
// goroutine of run g (nil: the caller's goroutine, the detector stopped), marked as
// inside a call up meanwhile. Those left when k's removal goes up are passed up by the
// removal first (flushHeld).
func (d *TCPFailureDetector) releaseHeld(g *runGroup, k channel.MemberKey, hs *heldMsgs) {
	defer close(hs.finished)
	defer func() {
		if !hs.counted {
			return
		}
		d.mu.Lock()
		if d.heldSets[k]--; d.heldSets[k] <= 0 {
			delete(d.heldSets, k)
		}
		d.mu.Unlock()
	}()
	hs.starting.Add(func() { d.deliver(g) })
	if g != nil {
		// On a goroutine of its own: the events delivered may go on past k's announcement
		// to another member's, whose listener may block, and k's messages do not wait for
		// that call (TestFailureDetectorHeldMessagesDoNotWaitForAnotherMembersListener).
		g.Go(func() { hs.starting.Run(nil) })
	} else {
		hs.starting.Run(nil) // the caller's goroutine: no goroutine outlives a stopped detector
	}
	if hs.after != nil {
		<-hs.after
		d.mu.Lock()
		hs.prev = nil // finished: the chain need not be kept
		d.mu.Unlock()
	}
	<-hs.announced
	hs.passing.Add(func() { d.passHeld(g, k, hs) })
	hs.passing.Run(nil)
}

// passHeld passes k's held messages up until none is left (see releaseHeld).
func (d *TCPFailureDetector) passHeld(g *runGroup, k channel.MemberKey, hs *heldMsgs) {
	for {
		d.mu.Lock()
		if len(hs.msgs) == 0 {
			if d.held[k] == hs {
				delete(d.held, k) // k's next message goes up on its receive goroutine
			}
			d.mu.Unlock()
			return
		}
		h := hs.msgs[0]
		hs.msgs[0] = nil
		hs.msgs = hs.msgs[1:]
		hs.upNow = h
		d.mu.Unlock()
		g.callUp(func() { h.err = d.passUp(h.msg) })
		close(h.done)
	}
}

// dropLocked removes k from the view and queues its disappearance, m, for run g (see
// queueUp). Caller holds evMu and d.mu. When k's messages are held behind its
// announcement, they go up before the disappearance (flushHeld); k is still a member for
// Member and Members meanwhile, so that the channel's sender check passes them
// (TestFailureDetectorHeldMessagesGoUpBeforeTheirMembersRemoval). A stopped detector
// passes the disappearance through at once, as it does every event: the stopping
// membership reports its members gone whatever their messages under way, and a listener
// of one may be what stops the channel
// (TestFailureDetectorHeldMessageWhoseListenerStopsTheChannel).
func (d *TCPFailureDetector) dropLocked(g *runGroup, k channel.MemberKey, m channel.Member) {
	delete(d.view, k)
	delete(d.suspects, k)
	hs := d.held[k]
	if hs == nil || hs.gone != nil || d.endLife == nil {
		d.queueUp(g, evGone, d.Prev().MemberDisappeared, m)
		return
	}
	hs.gone = &m
	d.leaving[k] = hs
	d.queueUp(g, evOther, func(m channel.Member) {
		d.flushHeld(k, hs)
		d.Prev().MemberDisappeared(m)
	}, m)
}

// flushHeld passes up the messages of hs, k's held messages whose removal (or, held behind
// a removal, whose member's new announcement) is about to go up, that releaseHeld has not
// passed yet, once the one it is passing went up, on the goroutine delivering the events: a message listener that blocks on one of them holds
// the removal, and the events behind it, as it would hold them were the messages passed up
// by the receiving goroutine. Run on releaseHeld's goroutine from inside a listener of one
// of them (a call of that listener ran the events queue), it cannot wait for that call: it
// leaves the messages to that goroutine, which passes them up after the removal, as a
// removed member's messages.
//
// The member's earlier held messages (hs.prev), left to their goroutine by a removal run
// inside one of their listeners, are waited for first, so that hs's messages go up after
// them (TestFailureDetectorRemovalWaitsForAnEarlierSetsMessages); unless it runs on that
// goroutine (inside the listener of one of them, or, the detector stopped, delivering the
// events before passing them), which it would wait for: hs's messages are then left to hs's own goroutine, which
// passes them up once those went up.
func (d *TCPFailureDetector) flushHeld(k channel.MemberKey, hs *heldMsgs) {
	inCall := hs.passing.InCall()
	d.mu.Lock()
	pending, mine := false, false
	for p := hs.prev; p != nil; p = p.prev {
		pending = pending || len(p.msgs) > 0 || p.upNow != nil && !isClosed(p.upNow.done)
		mine = mine || p.passing.InCall() || p.inline && p.starting.InCall()
	}
	after := hs.after
	d.mu.Unlock()
	if pending && mine {
		inCall = true // waiting would wait for this goroutine
	}
	if pending && !inCall {
		<-after
	}
	d.mu.Lock()
	var msgs []*heldMsg
	if !inCall {
		msgs, hs.msgs = hs.msgs, nil
	}
	cur := hs.upNow
	d.mu.Unlock()
	if cur != nil && !inCall {
		<-cur.done
	}
	for _, h := range msgs {
		h.err = d.passUp(h.msg)
		close(h.done)
	}
	d.mu.Lock()
	if d.leaving[k] == hs {
		delete(d.leaving, k)
	}
	d.mu.Unlock()
}

// queueAddedLocked queues k's announcement m found by a check, for run g (see queueUp).
// Caller holds evMu and d.mu. As one made on a message (heardFrom), it has k's messages
// that are not the new listing's go up first, so that none goes up after it as the new
// listing's: those held behind k's removal, unlisted (flushHeld:
// TestFailureDetectorRelistingByACheckFlushesTheMessagesHeldBehindTheRemoval), and those a
// removal of k run inside a listener of one of them left to their goroutine, which it
// waits for or drops (settleHeld:
// TestFailureDetectorRelistingByACheckWaitsForTheMessagesARemovalLeft).
func (d *TCPFailureDetector) queueAddedLocked(g *runGroup, k channel.MemberKey, m channel.Member) {
	switch prev := d.held[k]; {
	case prev != nil && prev.gone == nil && !prev.listed:
		d.queueUp(g, evOther, func(m channel.Member) {
			d.flushHeld(k, prev)
			d.Prev().MemberAdded(m)
		}, m)
	case prev != nil && prev.gone != nil:
		d.queueUp(g, evOther, func(m channel.Member) {
			d.settleHeld(prev)
			d.Prev().MemberAdded(m)
		}, m)
	default:
		d.queueUp(g, evAdded, d.Prev().MemberAdded, m)
	}
}

// settleHeld has the messages of hs, a set whose member's removal went up, and of the
// member's earlier sets, that the removal left to their goroutine (flushHeld, run inside a
// listener of one of them), and that have not begun to go up (one whose listener runs
// began before; TestFailureDetectorRemovalWaitsForAnEarlierSetsMessages has the
// announcement go up meanwhile), go up before the member's new announcement: it waits for that
// goroutine to pass them (TestFailureDetectorRelistingWaitsForTheMessagesARemovalLeft).
// Run on that goroutine itself (the announcement delivered from inside such a listener),
// it cannot wait for it: it drops them instead, counted in Stats().HeldDropped and
// refused with an error wrapping ErrHeldSuperseded, rather than have them go up after
// the announcement as messages of the new listing
// (TestFailureDetectorRelistingInsideAHeldListenerDropsWhatWasLeft).
func (d *TCPFailureDetector) settleHeld(hs *heldMsgs) {
	d.mu.Lock()
	pending, mine := false, false
	for p := hs; p != nil; p = p.prev {
		// One going up already (its listener called) went up first: not waited for.
		pending = pending || len(p.msgs) > 0
		mine = mine || p.passing.InCall() || p.inline && p.starting.InCall()
	}
	var drop []*heldMsg
	if pending && mine {
		for p := hs; p != nil; p = p.prev {
			drop = append(drop, p.msgs...)
			p.msgs = nil
		}
	}
	d.mu.Unlock()
	if pending && !mine {
		<-hs.finished // once its goroutine passed them, and every earlier set's (hs.after)
		return
	}
	for _, h := range drop {
		h.err = d.dropHeld(h.msg, "its member was listed again before it could go up", ErrHeldSuperseded)
		close(h.done)
	}
}

func isClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// passUp passes msg up, returning a panic of the layers above as an error.
func (d *TCPFailureDetector) passUp(msg *channel.Message) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("tcpfailure: the layers above panicked on a message held behind its member's announcement: %v", p)
			d.log.Error("tcp failure detector: the layers above panicked on a message", "panic", p, "source", msg.Source.String())
		}
	}()
	return d.Prev().MessageReceived(msg)
}
