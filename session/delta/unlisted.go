package delta

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gotribes/tribes/channel"
)

// DefaultUnlistedRequestWait is ClusterConfig.UnlistedRequestWait's default.
const DefaultUnlistedRequestWait = 10 * time.Second

// The bounds of the session messages held for senders not listed yet (no Tomcat
// equivalent: Tomcat's channel delivers every sender's messages): at most
// maxUnlistedPerSender per sender (as the message names it), maxUnlisted in all, each of
// at most maxUnlistedSize bytes and maxUnlistedBytes together (a Tomcat
// EVT_GET_ALL_SESSIONS takes some hundred bytes, a delta of a few attributes some KiB).
// Of them, at most maxUnlistedWaiting keep their receive waiting for the outcome (a
// synchronized-ack sender's: Tomcat's channelSendOptions 6), each on one of the
// transport's receive workers (Tomcat's maxThreads, 15 by default).
const (
	maxUnlistedPerSender = 64
	maxUnlisted          = 256
	maxUnlistedSize      = 64 << 10
	maxUnlistedBytes     = 1 << 20
	maxUnlistedWaiting   = 4
)

// errUnlistedDropped is the outcome of a held message dropped before its sender was
// listed (its wait ended, or the cluster closed): the receive that waits for it answers
// FAIL_ACK.
var errUnlistedDropped = errors.New("delta: session message held for a sender that was not listed in time, dropped")

// errQueuedClosed is the outcome of a member's message queued behind the drain of its
// held ones when the cluster closed first: its receive answers FAIL_ACK.
var errQueuedClosed = errors.New("delta: the cluster closed before the session message was handled")

// unlisted holds the session messages of senders this node does not list yet, in a
// cluster whose codec is JavaCodec: a Tomcat node may list this node before this node
// lists it (a joiner asking for every session once, and waiting stateTransferTimeout,
// 60 s, without asking again; a member sending its changes, which it never sends again
// when they fail), so a message that reaches this node before its membership lists the
// sender would be lost. The messages are kept as received, never decoded, until the
// membership lists their sender (Cluster.memberAdded, or its next message, which waits
// behind them: drainHeld): only then are they decoded and handled, in the order they
// came, as from the membership's record of the sender (a held EVT_GET_ALL_SESSIONS only the latest per application); every
// message whose wait (ClusterConfig.UnlistedRequestWait) ended first is dropped. A
// synchronized-ack message's receive waits for that outcome, so that its sender gets the
// ACK once the message was applied, FAIL_ACK once it was dropped.
type unlisted struct {
	mu      sync.Mutex
	held    []*heldMessage // oldest first
	size    int            // bytes held
	waiting int            // held messages whose receive waits (heldMessage.done), until handled
	closed  bool
	// draining are the senders whose held messages are being handled (drainHeld);
	// queued, the bytes of the messages queued behind them whose receive returned.
	draining map[channel.MemberKey]*drain
	queued   int
	// closing is closed by closeUnlisted: it ends the waits behind drains, and the
	// drains (closedFlag). running are the drains running (a drain leaves draining once
	// its queue is empty, before it ends), which the cluster's Close waits for (within
	// its ctx), but for the one whose listener calls it.
	closing    chan struct{}
	closedFlag atomic.Bool
	running    map[*drain]struct{}
	// drainHook, if set, is called once when a drain starts (tests only).
	drainHook func()
	// pending counts the messages held or being handled, so that a member's receive
	// looks for held messages of its own only while there are some.
	pending atomic.Int64
}

type heldMessage struct {
	key channel.MemberKey
	// at is the key of a member listed by address alone at the sender's address
	// (Cluster.sender): such a record, once listed, drains the message too.
	at    channel.MemberKey
	from  string // the sender's address, as the message names it
	data  []byte
	timer *time.Timer
	// until is when its wait ends (UnlistedRequestWait from when it was held): a
	// waiting receive gives up then, even once a drain took the message.
	until time.Time
	// done, for a synchronized-ack message, receives the outcome its receive answers:
	// nil once applied, an error once dropped. Buffered; sent to once.
	done chan error
	// live marks a message its sender sent as a member, queued behind the drain of its
	// held ones; state is 0 while held or queued, 1 once the drain handles it, 2 once its
	// receive, tired of waiting, does (a live one) or gave up on it (a held one: the
	// drain then skips it).
	live  bool
	state atomic.Int32
}

// holdUnlisted keeps raw, a session message from a sender that is not a member, until
// its sender is listed or the wait ends; a message past the bounds is not kept. A
// sender listed meanwhile (its Added event may have come before the message was kept)
// has its messages handled at once. It reports whether raw was kept; the message
// returned, a synchronized-ack one kept, is the one whose outcome its receive waits for
// (awaitHeld), nil when the receive need not wait.
func (c *Cluster) holdUnlisted(raw *channel.Message) (*heldMessage, bool) {
	if _, java := c.codec.(objectCodec); !java || c.unlistedWait <= 0 {
		return nil, false
	}
	if len(raw.Data) > maxUnlistedSize {
		c.unlistedDropped.Add(1)
		return nil, false
	}
	key := raw.Source.Key()
	h := &heldMessage{key: key, at: channel.Member{Host: raw.Source.Host, Port: raw.Source.Port}.Key(),
		from: raw.Source.Addr(), data: bytes.Clone(raw.Data), until: time.Now().Add(c.unlistedWait)}
	wait := raw.Options.IsSyncAck()
	if wait {
		h.done = make(chan error, 1)
	}
	u := &c.unlisted
	u.mu.Lock()
	evicted, ok := u.makeRoom(h)
	if !ok {
		u.mu.Unlock()
		c.unlistedDropped.Add(1)
		return nil, false
	}
	u.held = append(u.held, h)
	u.size += len(h.data)
	if wait {
		u.waiting++
	}
	u.pending.Add(1)
	h.timer = time.AfterFunc(c.unlistedWait, func() { c.dropHeld(h) })
	u.mu.Unlock()
	for _, e := range evicted {
		c.unlistedDropped.Add(1)
		u.finish(e, errUnlistedDropped)
	}
	if mem, ok := c.sender(raw.Source); ok {
		c.answerHeld(mem)
	}
	if !wait {
		return nil, true
	}
	return h, true
}

// awaitHeld is the error h, a synchronized-ack message held, answers, once there is
// one: nil once applied, refused (wrapping channel.ErrNotMember) once dropped. The wait
// ends with h's (UnlistedRequestWait from when it was held), even when a drain took h
// meanwhile and has not come to it (one stalled, on the membership's goroutine or a
// receive's, by a synchronous send waiting for this very receive), and with the
// cluster's Close: the receive then answers FAIL_ACK and the drain skips h. Once the
// drain handles h, the receive waits for that only
// (TestHeldAckedMessageWaitBoundedWhileDrained).
func (c *Cluster) awaitHeld(h *heldMessage, refused error) error {
	u := &c.unlisted
	u.mu.Lock()
	closing := u.closingChan()
	u.mu.Unlock()
	t := time.NewTimer(time.Until(h.until))
	defer t.Stop()
	var err error
	ended := false
	select {
	case err = <-h.done:
	case <-t.C:
		err, ended = errUnlistedDropped, true
	case <-closing:
		err = errUnlistedDropped // closeUnlisted drops it if it is still held
	}
	if err == errUnlistedDropped {
		switch {
		case h.state.CompareAndSwap(0, 2):
			if ended {
				c.dropHeld(h) // if still held, as its timer does: a drain that took it skips it
			}
		case h.state.Load() == 1:
			err = <-h.done // the drain is handling it
		}
	}
	if err != nil {
		if errors.Is(err, errUnlistedDropped) {
			return fmt.Errorf("%w (%w)", refused, err)
		}
		return err
	}
	return nil
}

// makeRoom takes out of the hold what h needs evicted to fit in the bounds, and reports
// whether h fits; u.mu is held. The senders of the held messages, as the messages name
// them, share the hold fairly: a message that does not fit evicts the oldest message of
// the sender holding the most (its oldest waiting message, for a waiting place), as long
// as that sender holds more than h's sender would once h is kept; otherwise h is not
// kept and nothing is evicted. A stranger holding the hold full from invented senders
// has its oldest messages evicted by a joiner's, which stays until as many messages of
// other new senders came after it (TestStrangerCannotCrowdOutAJoinersHeldMessages).
func (u *unlisted) makeRoom(h *heldMessage) (evicted []*heldMessage, ok bool) {
	if u.closed {
		return nil, false
	}
	held, waiting := map[channel.MemberKey]int{}, map[channel.MemberKey]int{}
	for _, m := range u.held {
		held[m.key]++
		if m.done != nil {
			waiting[m.key]++
		}
	}
	if held[h.key] >= maxUnlistedPerSender {
		return nil, false
	}
	out := map[*heldMessage]bool{} // to evict
	n, size, nwait := len(u.held), u.size, u.waiting
	evict := func(counts map[channel.MemberKey]int, waitingOnly bool) bool {
		most := 0
		for k, c := range counts {
			if k != h.key && c > most {
				most = c
			}
		}
		if most < counts[h.key]+1 {
			return false
		}
		for _, m := range u.held { // oldest first
			if out[m] || m.key == h.key || counts[m.key] != most || waitingOnly && m.done == nil {
				continue
			}
			out[m] = true
			held[m.key]--
			n, size = n-1, size-len(m.data)
			if m.done != nil {
				waiting[m.key]--
				nwait--
			}
			return true
		}
		return false
	}
	if h.done != nil && nwait >= maxUnlistedWaiting && !evict(waiting, true) {
		return nil, false
	}
	for n >= maxUnlisted || size+len(h.data) > maxUnlistedBytes {
		if !evict(held, false) {
			return nil, false
		}
	}
	if len(out) == 0 {
		return nil, true
	}
	u.held = slices.DeleteFunc(u.held, func(m *heldMessage) bool {
		if out[m] {
			u.release(m)
			evicted = append(evicted, m)
		}
		return out[m]
	})
	return evicted, true
}

// takeHeld removes the held message at i; u.mu is held.
func (u *unlisted) takeHeld(i int) *heldMessage {
	h := u.held[i]
	u.held = slices.Delete(u.held, i, i+1)
	u.release(h)
	return h
}

// release forgets h's bytes and waiting receive in the bounds; u.mu is held.
func (u *unlisted) release(h *heldMessage) {
	u.forget(h)
	if h.done != nil {
		u.waiting--
	}
}

// forget forgets h's bytes in the bounds, not its waiting receive: a message taken to be
// handled keeps its waiting place until it was (handleHeld); u.mu is held.
func (u *unlisted) forget(h *heldMessage) {
	h.timer.Stop()
	u.size -= len(h.data)
}

// finish hands h's outcome to the receive waiting for it, if any, and forgets h.
func (u *unlisted) finish(h *heldMessage, err error) {
	if h.done != nil {
		h.done <- err
	}
	u.pending.Add(-1)
}

// dropHeld forgets h once its wait ended, unless it was taken already.
func (c *Cluster) dropHeld(h *heldMessage) {
	u := &c.unlisted
	u.mu.Lock()
	i := slices.Index(u.held, h)
	if i >= 0 {
		u.takeHeld(i)
	}
	u.mu.Unlock()
	if i >= 0 {
		c.unlistedDropped.Add(1)
		// Rate-limited per sender and in all: the sender may be a stranger's invention.
		c.refusals.Log(slog.LevelWarn, h.from, "unlisted-wait",
			"delta: dropping a session message held for a sender the membership did not list within "+
				"ClusterConfig.UnlistedRequestWait: a Tomcat node joining starts without sessions after its "+
				"stateTransferTimeout, a Tomcat member's change is lost; raise UnlistedRequestWait if new members "+
				"are listed later than that", "from", h.from, "wait", c.unlistedWait)
		u.finish(h, errUnlistedDropped)
	}
}

// answerHeld handles the messages held for mem, now a member, in the order they came
// (drainHeld).
func (c *Cluster) answerHeld(mem channel.Member) { c.drainHeld(mem, nil) }

// drainHeld handles the messages held for mem, now a member, in the order they came, as
// if they came now, from the membership's record of it: its requests for every session
// (of those handled together, one per application, the latest) and its other messages
// (changes, expiries, renames) alike; then live, a message mem sent as a member (nil for
// none). Each waiting receive gets its message's outcome once it was handled. One
// goroutine at a time drains a sender: what another finds meanwhile (messages held since,
// live) it queues behind the drain, so that no message of the sender is handled before
// one held earlier (TestChangeOfAMemberJustListedAppliedAfterItsHeldOnes). It reports
// whether it took live (handled or queued it), and live's outcome then.
func (c *Cluster) drainHeld(mem channel.Member, live *channel.Message) (took bool, err error) {
	u := &c.unlisted
	if u.pending.Load() == 0 {
		return false, nil
	}
	key := mem.Key()
	byAddress := mem.UniqueID == (channel.UniqueID{}) // it stands for the node at its address
	u.mu.Lock()
	var mine []*heldMessage
	u.held = slices.DeleteFunc(u.held, func(h *heldMessage) bool {
		if h.key != key && (!byAddress || h.at != key) {
			return false
		}
		u.forget(h)
		mine = append(mine, h)
		return true
	})
	d := u.draining[key]
	if d == nil && (len(mine) == 0 || u.closed) { // none held after closeUnlisted
		u.mu.Unlock()
		return false, nil
	}
	var item *heldMessage
	if live != nil {
		item = &heldMessage{key: key, from: mem.Addr(), data: live.Data, live: true}
		// A synchronized-ack message waits for its outcome, and so does one of a sender
		// whose queue is long, or that would take the messages queued past
		// maxUnlistedBytes; any other is queued, a copy, and its receive returns.
		if d == nil || live.Options.IsSyncAck() || len(d.queue) >= maxUnlistedPerSender ||
			u.queued+len(live.Data) > maxUnlistedBytes {
			item.done = make(chan error, 1)
		} else {
			item.data = bytes.Clone(live.Data) // the transport may reuse it once the receive returns
			u.queued += len(item.data)
		}
		mine = append(mine, item)
		u.pending.Add(1)
	}
	if d != nil {
		d.queue = append(d.queue, mine...)
		closing := u.closingChan()
		u.mu.Unlock()
		if item == nil || item.done == nil {
			return item != nil, nil
		}
		return true, c.awaitQueued(mem, item, closing)
	}
	d = &drain{done: make(chan struct{})}
	if u.draining == nil {
		u.draining = map[channel.MemberKey]*drain{}
		u.running = map[*drain]struct{}{}
	}
	u.draining[key] = d
	u.running[d] = struct{}{} // not closed: before closeUnlisted, so before Close waits
	defer func() {
		u.mu.Lock()
		delete(u.running, d)
		u.mu.Unlock()
		close(d.done)
	}()
	hook := u.drainHook
	u.drainHook = nil
	u.mu.Unlock()
	if hook != nil {
		hook()
	}
	if rec, ok := c.ch.Member(key); ok {
		mem = rec
	}
	// The context of the listener calls the drain makes (SessionEvent.Context,
	// AttributeEvent.Context): a Close called with it does not wait for this drain,
	// which waits for the listener (TestCloseFromAHeldMessagesListenerReturns).
	ctx := context.WithValue(context.Background(), drainMark{c}, d)
	for len(mine) > 0 {
		c.handleHeld(ctx, mem, mine)
		u.mu.Lock()
		mine, d.queue = d.queue, nil
		if len(mine) == 0 {
			delete(u.draining, key)
		}
		u.mu.Unlock()
	}
	if item == nil {
		return false, nil
	}
	return true, <-item.done // handled above
}

// drain is a sender whose held messages one goroutine handles: the messages of the
// sender that come meanwhile wait in queue, oldest first, for that goroutine; done is
// closed once it ended.
type drain struct {
	queue []*heldMessage
	done  chan struct{}
}

// drainMark is the key of the value, the drain, that marks the context a drain gives the
// listeners it calls (SessionEvent.Context, AttributeEvent.Context) as that drain's.
type drainMark struct{ c *Cluster }

// callingDrain returns the drain of c whose listener call ctx is the context of, if that
// drain still runs, else nil.
func (c *Cluster) callingDrain(ctx context.Context) *drain {
	d, _ := ctx.Value(drainMark{c}).(*drain)
	if d == nil {
		return nil
	}
	select {
	case <-d.done:
		return nil
	default:
		return d
	}
}

// awaitQueued is the outcome of live, a member's message queued behind the drain of its
// held ones. The wait is bounded by the hold's (UnlistedRequestWait): a drain that
// does not come to live by then (one that waits, through a synchronous send, for this
// very receive) leaves it to this receive, which handles it itself, out of its order.
// The cluster's Close (closing) ends it too, with errQueuedClosed, live not handled.
func (c *Cluster) awaitQueued(mem channel.Member, live *heldMessage, closing <-chan struct{}) error {
	t := time.NewTimer(c.unlistedWait)
	defer t.Stop()
	closed := false
	select {
	case err := <-live.done:
		return err
	case <-t.C:
	case <-closing:
		closed = true
	}
	if !live.state.CompareAndSwap(0, 2) {
		return <-live.done // the drain is handling it
	}
	c.unlisted.pending.Add(-1)
	if closed {
		return errQueuedClosed
	}
	c.refusals.Log(slog.LevelWarn, mem.Addr(), "unlisted-order",
		"delta: handling a session message out of its order: the messages held for its sender before it was "+
			"listed were not handled within ClusterConfig.UnlistedRequestWait", "from", mem.Addr(), "wait", c.unlistedWait)
	return c.receiveListed(context.Background(), mem, live.data)
}

// closingChan returns u.closing, made if need be; u.mu is held.
func (u *unlisted) closingChan() chan struct{} {
	if u.closing == nil {
		u.closing = make(chan struct{})
	}
	return u.closing
}

// handleHeld handles mine, messages of mem taken from the hold or queued behind its
// drain, in order; once the cluster closes, it handles none: the held ones are dropped
// (FAIL_ACK), the queued ones' receives answer errQueuedClosed
// (TestCloseStopsTheDrainOfHeldMessages).
func (c *Cluster) handleHeld(ctx context.Context, mem channel.Member, mine []*heldMessage) {
	u := &c.unlisted
	msgs := make([]*Message, len(mine))
	errs := make([]error, len(mine))
	latest := map[string]int{} // the latest request for every session, per application
	for i, h := range mine {
		if h.live {
			continue
		}
		msgs[i], errs[i] = c.codec.DecodeMessage(h.data)
		if errs[i] == nil && msgs[i].Event == EventGetAllSessions {
			latest[msgs[i].Context] = i
		}
	}
	for i, h := range mine {
		msg, err := msgs[i], errs[i]
		closed := u.closedFlag.Load()
		switch {
		case closed && h.live:
			if !h.state.CompareAndSwap(0, 1) {
				continue // its receive, tired of waiting or closed, handles it
			}
			err = errQueuedClosed
			if h.done == nil {
				u.mu.Lock()
				u.queued -= len(h.data)
				u.mu.Unlock()
			}
		case closed:
			h.state.CompareAndSwap(0, 1)
			c.unlistedDropped.Add(1)
			err = errUnlistedDropped
		case !h.live && !h.state.CompareAndSwap(0, 1):
			// Its receive gave up waiting (its wait ended, the cluster closed) and
			// answered FAIL_ACK: dropped, not applied.
			c.unlistedDropped.Add(1)
			err = errUnlistedDropped
		case h.live:
			if !h.state.CompareAndSwap(0, 1) {
				continue // its receive, tired of waiting, handles it
			}
			err = c.receiveListed(ctx, mem, h.data)
			if h.done == nil { // its copy
				u.mu.Lock()
				u.queued -= len(h.data)
				u.mu.Unlock()
			}
		case err != nil:
			c.malformed.Add(1)
			c.unlistedDropped.Add(1)
			if !errors.Is(err, ErrMessageLimit) {
				err = nil // as receive: malformed messages are ignored, never FAIL_ACKed
			}
		case msg.Event == EventGetAllSessions && latest[msg.Context] != i:
			c.unlistedDropped.Add(1) // a later one is answered
		case msg.Event == EventGetAllSessions:
			c.unlistedAnswered.Add(1)
			c.log.Info("delta: answering a state transfer request that came before its sender was a member",
				"context", msg.Context, "from", mem.Addr())
			c.dispatch(ctx, msg, mem, 0)
		default:
			c.unlistedApplied.Add(1)
			c.dispatch(ctx, msg, mem, 0)
			if msg.Event == EventAllSessionData {
				msg.release()
			}
		}
		if h.done != nil && !h.live { // its waiting place is free once it was handled
			u.mu.Lock()
			u.waiting--
			u.mu.Unlock()
		}
		u.finish(h, err)
	}
}

// closeUnlisted drops every held message; none is held after, and the drains running,
// which it returns (for Close to wait for), handle no more. No drain starts after it.
func (c *Cluster) closeUnlisted() []*drain {
	u := &c.unlisted
	u.mu.Lock()
	if !u.closed {
		close(u.closingChan())
	}
	u.closed = true
	u.closedFlag.Store(true)
	held := u.held
	for _, h := range held {
		u.release(h)
	}
	u.held = nil
	running := slices.Collect(maps.Keys(u.running))
	u.mu.Unlock()
	for _, h := range held {
		u.finish(h, errUnlistedDropped)
	}
	return running
}

// heldUnlisted returns how many messages are held, and their bytes.
func (c *Cluster) heldUnlisted() (n, size int) {
	u := &c.unlisted
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.held), u.size
}
