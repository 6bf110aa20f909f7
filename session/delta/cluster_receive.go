package delta

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"

	"github.com/gotribes/tribes/channel"
)

// clusterListener keeps Accept and MessageReceived off the Cluster's API.
type clusterListener struct{ c *Cluster }

func (l clusterListener) Accept(msg *channel.Message) bool {
	if bc, ok := l.c.codec.(batchCodec); ok && (bc.ownsBatch(msg.Data) || bytes.HasPrefix(msg.Data, cutMagic)) {
		return true
	}
	return l.c.codec.Owns(msg.Data)
}

// MessageLost implements channel.LossListener: a manager's state transfer from the
// sender fails (Manager.transferLost).
func (l clusterListener) MessageLost(lost channel.LostMessage) {
	for _, m := range l.c.running() {
		m.transferLost(lost.Source, lost.Size, lost.Err)
	}
}

func (l clusterListener) MessageReceived(msg *channel.Message) error {
	// Malformed or unknown messages are ignored, never FAIL_ACKed; one past this node's
	// codec limits is refused (FAIL_ACK: the sender's acked send fails, ErrAckFailed),
	// and so is a non-member's, so that a synchronized-ack request from a node this one does not list yet
	// (a restarted joiner) gets FAIL_ACK and is asked again, not an ACK and no answer
	// (with JavaCodec the message is held instead, for a Tomcat node that does not send
	// it again, and a synchronized-ack one answered once it was applied or dropped:
	// unlisted.go).
	return l.c.receive(msg)
}

// receive handles a session message. Only current members of the channel are heard:
// a message from anyone else is neither decoded nor answered, and replies go to the
// membership's record of the sender, never to an address only the message names (with
// JavaCodec a non-member's message is held, undecoded, until the membership lists its
// sender: unlisted.go). The
// error is channel.ErrNotMember for a sender that is not a member, one wrapping
// ErrMessageLimit for a message past the codec's limits, nil otherwise.
func (c *Cluster) receive(raw *channel.Message) error {
	src, ok := c.sender(raw.Source)
	if !ok {
		refused := fmt.Errorf("%w: %s", channel.ErrNotMember, raw.Source.Addr())
		if h, held := c.holdUnlisted(raw); held {
			// Held, not refused: counted in UnlistedHeld, then answered, applied or dropped.
			c.refusals.Log(slog.LevelDebug, raw.Source.Addr(), "unlisted-held",
				"delta: holding a session message from a sender that is not a member of the channel yet",
				"wait", c.unlistedWait)
			if h != nil {
				return c.awaitHeld(h, refused) // the ACK once applied, FAIL_ACK once dropped
			}
			return refused
		}
		c.nonMember.Add(1)
		c.refusals.Log(slog.LevelWarn, raw.Source.Addr(), "non-member",
			"delta: ignoring session messages from a sender that is not a member of the channel")
		return refused
	}
	if took, err := c.drainHeld(src, raw); took { // its messages held from before it was listed come first
		return err
	}
	if _, ok := c.codec.(batchCodec); ok && bytes.HasPrefix(raw.Data, cutMagic) {
		// A probe's ping names its requester by the id its messages carry, not the
		// record's: one listed by address alone has none
		// (TestProbeForMemberListedByAddressNamesItsNode).
		c.receiveCut(src, raw.Source.UniqueID, raw.Data)
		return nil
	}
	return c.receiveListed(context.Background(), src, raw.Data)
}

// sender returns the membership's record of src, a message's sender, and false when src
// is not a member: the record under src's key or, for a member listed by address alone
// (host:port without a unique id: node.Config.StaticMembers, membership/static), the
// record at src's address, which stands for whichever node runs there, as in the
// channel's own sender check (channel.Config.AcceptNonMembers). The record, not src:
// replies go to it, and donors, requests and departures are matched with the
// membership's records (TestMembersListedByAddressReplicate).
func (c *Cluster) sender(src channel.Member) (channel.Member, bool) {
	return channel.ListedAs(c.ch.Member, src)
}

// receiveListed handles data, a session message of src, a member.
func (c *Cluster) receiveListed(ctx context.Context, src channel.Member, data []byte) error {
	if _, ok := c.codec.(batchCodec); ok && bytes.HasPrefix(data, cutMagic) {
		c.receiveCut(src, src.UniqueID, data)
		return nil
	}
	var msgs []*Message
	var arrays *recvArrays // a batch's, recycled once its messages were applied
	var err error
	if bc, ok := c.codec.(batchCodec); ok && bc.ownsBatch(data) {
		arrays = getRecvArrays()
		msgs, err = bc.decodeBatch(data, &c.names, arrays)
	} else {
		var msg *Message
		msg, err = c.codec.DecodeMessage(data)
		msgs = []*Message{msg}
	}
	if err != nil {
		c.malformed.Add(1)
		c.refusals.Log(slog.LevelDebug, src.Addr(), "malformed", "delta: ignoring malformed session message",
			"size", len(data), "err", err)
		for _, m := range c.running() { // it may have carried sessions of a transfer
			m.transferLost(src, len(data), err)
		}
		if errors.Is(err, ErrMessageLimit) {
			// Well formed, but past this node's limits (a sender whose codec allows more):
			// FAIL_ACK, so that an acked send fails instead of being taken for applied.
			c.refusals.Log(slog.LevelWarn, src.Addr(), "over limits",
				"delta: refusing a session message past this node's codec limits", "size", len(data), "err", err)
			return err
		}
		return nil
	}
	// The batch's messages were received at once: one clock read for all, the access
	// time of the sessions its deltas change, at most the time its earlier messages took
	// to apply before (the cluster's own work, µs each), and never back (applyDelta).
	// Listeners, with a manager that has any, run between them and may take any time:
	// each delta reads the clock then (TestBatchClockAfterASlowListener).
	var now int64
	if c.listeners.Load() == 0 {
		now = nowMs()
	}
	kept := false
	for _, msg := range msgs {
		c.dispatch(ctx, msg, src, now)
		kept = kept || msg.kept
		if msg.Event == EventAllSessionData && !msg.kept {
			// Applied (or refused): nothing keeps a chunk's decoded sessions. One a
			// manager kept (keepMsg) would keep its arrays, left to the collector with it;
			// none does: a refresh counts one between its attempts unexpected at once
			// (TestChunkBetweenRefreshAttemptsIsNotKept).
			msg.release()
		}
	}
	if arrays != nil && !kept {
		arrays.recycle() // none of its messages is used any more
	}
	return nil
}

// dispatch hands a received message to the manager of its context (every manager when
// it names none; the name "" of a Tomcat peer, Message.EmptyContext, is a context no Go
// manager has). now is when it was received (Manager.receive).
func (c *Cluster) dispatch(ctx context.Context, msg *Message, src channel.Member, now int64) {
	c.messages.Add(1)
	if msg.Context == "" && !msg.EmptyContext {
		for _, m := range c.running() {
			m.receive(ctx, msg, src, now)
		}
		return
	}
	c.mu.RLock()
	m := c.managers[msg.Context]
	c.mu.RUnlock()
	if m != nil {
		m.receive(ctx, msg, src, now)
		return
	}
	c.unknownContext.Add(1)
	if msg.Event == EventGetAllSessions && c.startingManager(msg.Context) {
		// Its manager is made and about to start (two nodes starting at once): the
		// asker hears that it is starting, not that it has none
		// (TestSimultaneousStartIsQuiet).
		c.replyNoContext(msg.Context, src, idNotReady, replyID(msg, uniqueNotReady))
		return
	}
	c.warnUnknown(msg, src)
	if msg.Event == EventGetAllSessions {
		c.replyNoContext(msg.Context, src, idNoContext, replyID(msg, uniqueNoContext))
	}
}

func (c *Cluster) warnUnknown(msg *Message, from channel.Member) {
	c.mu.Lock()
	first := !c.warned[msg.Context] && len(c.warned) < maxWarned
	var names []string
	if first {
		c.warned[msg.Context] = true
		names = slices.Sorted(maps.Keys(c.managers))
	}
	c.mu.Unlock()
	if first {
		// The managers' names beside the message's: a manager named otherwise than the
		// members' (its context path beside Tomcat's "localhost#/app") shows here.
		c.log.Warn("delta: session message for a context without a manager (further ones are not logged)",
			"context", msg.Context, "event", msg.Event.String(), "from", from.Addr(), "managers", names)
	}
}

// MaxNoContextReplies bounds the answers to requests for every session that cannot be
// served (EVT_ALL_SESSION_NOCONTEXTMANAGER) on their way at once.
const MaxNoContextReplies = 16

// replyNoContext answers a GET_ALL_SESSIONS that cannot be served, with sid as its
// SessionID (idNoContext, or idNotReady from a manager starting) and id as its UniqueID
// (the reason, or the request's: replyID). The context name "" is a Tomcat
// manager's own (Message.EmptyContext): a request naming none reaches every manager and
// is not answered here. At most MaxNoContextReplies answers are on their way at once: a
// request beyond is left unanswered, logged rate-limited (its asker's wait ends as for a
// lost answer), where each had a goroutine of its own, however many were on their way
// (TestNoContextRepliesBounded).
func (c *Cluster) replyNoContext(ctxName string, to channel.Member, sid, id string) {
	select {
	case c.noContextSlots <- struct{}{}:
	default:
		c.refusals.Log(slog.LevelWarn, to.Addr(), "no-context replies",
			"delta: not answering a state transfer request that cannot be served: too many answers on their way",
			"context", ctxName, "max", MaxNoContextReplies)
		return
	}
	started := c.goTracked(func() {
		defer func() { <-c.noContextSlots }()
		msg := &Message{Event: EventNoContextManager, Context: ctxName, EmptyContext: ctxName == "",
			SessionID: sid, UniqueID: id, Timestamp: nowMs()}
		data, err := c.codec.AppendMessage(nil, msg)
		if err == nil {
			err = c.send(context.Background(), []channel.Member{to}, data, 0)
		}
		if err != nil {
			c.log.Debug("delta: cannot answer a state transfer request", "context", ctxName, "to", to.Addr(), "err", err)
			return
		}
		c.noContextReplies.Add(1)
	})
	if !started {
		<-c.noContextSlots
	}
}
