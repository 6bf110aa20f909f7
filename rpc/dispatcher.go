package rpc

import (
	"cmp"
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/jserial"
)

// dispatcher is the one message listener the package registers on a channel.Channel: it
// decodes each RpcMessage once, hands it to the rpc.Channel with its id, and answers a
// NoRpcChannelReply when there is none (what Java's GroupChannel does for an RpcMessage
// no RpcChannel accepted).
type dispatcher struct {
	ch     *channel.Channel
	remove func() // removes the message and the membership listener

	mu     sync.RWMutex
	byID   map[string]*Channel
	limits atomic.Pointer[decodeLimits] // the largest Limits of byID (set under mu)

	// strangers sends the NoRpcChannelReplies to non-members (see MessageReceived),
	// bounded as an rpc.Channel's replies to them; their sends end with life, cancelled
	// when the dispatcher is removed.
	strangers strangerReplies
	life      context.Context
	end       context.CancelFunc
}

var (
	regMu    sync.Mutex
	registry = map[*channel.Channel]*dispatcher{}
)

// register publishes c under its id, with c.disp set first.
func register(c *Channel) error {
	regMu.Lock()
	defer regMu.Unlock()
	d := registry[c.cfg.Channel]
	if d == nil {
		d = &dispatcher{ch: c.cfg.Channel, byID: map[string]*Channel{}}
		d.limits.Store(&decodeLimits{})
		d.life, d.end = context.WithCancel(context.Background())
		removeMsg := d.ch.AddMessageListener(d)
		removeMbr := d.ch.AddMembershipListener(channel.MembershipFuncs{Disappeared: d.memberLeft})
		d.remove = func() { removeMbr(); removeMsg() }
		registry[d.ch] = d
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, dup := d.byID[string(c.cfg.ID)]; dup {
		return fmt.Errorf("%w: %q", ErrDuplicateID, c.cfg.ID)
	}
	c.disp = d
	d.byID[string(c.cfg.ID)] = c
	d.setLimits()
	return nil
}

// decodeLimits are the limits the dispatcher decodes with: the largest of its
// rpc.Channels' Limits (cfg) and whether one of them left MaxHandles zero (scaleHandles).
type decodeLimits struct {
	cfg          jserial.DecoderConfig
	scaleHandles bool
}

// handleBytes is the input per handle that jserial's default MaxHandles allows beyond
// DefaultMaxHandles for a message given whole (jserial.DecoderConfig.MaxHandles' doc).
const handleBytes = 8

// forMessage is the DecoderConfig for a message of n bytes. An rpc.Channel that left
// MaxHandles zero takes jserial's default for it, 1<<20 or one handle per handleBytes of
// the message, whichever is more: beside another rpc.Channel's explicit MaxHandles the
// larger of the two applies, message by message.
func (l *decodeLimits) forMessage(n int) jserial.DecoderConfig {
	cfg := l.cfg
	if l.scaleHandles && cfg.MaxHandles != 0 {
		bytes := int64(n)
		if cfg.MaxBytes != 0 {
			bytes = min(bytes, cfg.MaxBytes)
		}
		if int64(cfg.MaxHandles) <= bytes/handleBytes {
			cfg.MaxHandles = 0 // jserial's default, scaled, is at least as large
		}
	}
	return cfg
}

// setLimits stores the largest of the rpc.Channels' Limits, field by field, a zero
// field counting as jserial's default (for MaxDepth and MaxArrayLen a constant, so the
// default given explicitly is the same limit). MaxHandles' default scales with the
// message: it stays zero when no rpc.Channel raised it and one left it so, and otherwise
// forMessage compares it, message by message, with the largest explicit one. Called
// under d.mu.
func (d *dispatcher) setLimits() {
	var l jserial.DecoderConfig
	zeroHandles := false
	for _, c := range d.byID {
		o := c.cfg.Limits
		l.MaxDepth = max(l.MaxDepth, cmp.Or(o.MaxDepth, jserial.DefaultMaxDepth))
		l.MaxHandles = max(l.MaxHandles, cmp.Or(o.MaxHandles, jserial.DefaultMaxHandles))
		l.MaxArrayLen = max(l.MaxArrayLen, cmp.Or(o.MaxArrayLen, jserial.DefaultMaxArrayLen))
		l.MaxBytes = max(l.MaxBytes, o.MaxBytes)
		zeroHandles = zeroHandles || o.MaxHandles == 0
	}
	if zeroHandles && l.MaxHandles == jserial.DefaultMaxHandles {
		l.MaxHandles = 0
	}
	d.limits.Store(&decodeLimits{cfg: l, scaleHandles: zeroHandles})
}

// unregister removes c; the last rpc.Channel of a channel.Channel removes the listener.
func unregister(c *Channel) {
	regMu.Lock()
	defer regMu.Unlock()
	d := c.disp
	d.mu.Lock()
	delete(d.byID, string(c.cfg.ID))
	d.setLimits()
	empty := len(d.byID) == 0
	d.mu.Unlock()
	if empty {
		d.remove()
		delete(registry, d.ch)
		// The NoRpcChannelReplies in flight end with their sends' context, not waited for.
		d.strangers.close()
		d.end()
	}
}

// Accept takes the messages that hold an RpcMessage, without decoding them.
func (d *dispatcher) Accept(msg *channel.Message) bool {
	return msg.Options&channel.OptByteMessage == 0 && isMessage(msg.Data)
}

// AcceptNonMember implements channel.NonMemberListener: a message of a non-member is taken
// when its rpc.Channel was configured with AcceptNonMembers. It reads the rpc id only
// (peekRPCID), not the payload: a message the channel then drops costs no decoding.
func (d *dispatcher) AcceptNonMember(msg *channel.Message) bool {
	if !d.Accept(msg) {
		return false
	}
	id, ok := peekRPCID(msg.Data)
	if !ok {
		return false
	}
	d.mu.RLock()
	c := d.byID[string(id)]
	d.mu.RUnlock()
	return c != nil && c.cfg.AcceptNonMembers
}

// MessageReceived routes the message by its rpc id.
func (d *dispatcher) MessageReceived(msg *channel.Message) error {
	m, err := d.unmarshal(msg.Data)
	if err != nil {
		err = fmt.Errorf("rpc: message %s from %s: %w", msg.IDString(), msg.Source.String(), err)
		d.messageLost(msg.Source, fmt.Errorf("%d-byte message undecodable: %w", len(msg.Data), err))
		return err
	}
	d.mu.RLock()
	c := d.byID[string(m.rpcID)]
	d.mu.RUnlock()
	if c != nil {
		return c.received(m, msg.Source)
	}
	if m.noChannel {
		return nil
	}
	noChannel := &message{noChannel: true, reply: true, uuid: m.uuid, rpcID: m.rpcID}
	if d.ch.Membership() != nil && !isMember(d.ch, msg.Source) {
		// A channel taking every sender's messages (channel.Config.AcceptNonMembers) lets
		// a non-member's request for any id through. It is answered, as Java answers it:
		// a Tomcat node that lists this one before this one lists it (its replicated
		// maps' MSG_INIT and MSG_START go to every member it lists) otherwise waits its
		// rpcTimeout for a reply that never comes. The answer goes to an address the
		// request writes (one that does not answer would hold the receiver for the
		// transport's timeout): off the receiving goroutine, bounded as an rpc.Channel's
		// replies to non-members (TestOpenChannelStrangerRepliesOffTheReceiver).
		return d.strangers.reply(d.life, d, msg.Source, noChannel, nil, channel.OptAsync)
	}
	// As GroupChannel.sendNoRpcChannelReply: asynchronous, no ACK.
	return d.send(context.Background(), msg.Source, noChannel, channel.OptAsync)
}

// unmarshal decodes an RpcMessage within the largest Limits (MaxMessageBytes among
// them) of the rpc.Channels.
func (d *dispatcher) unmarshal(b []byte) (*message, error) {
	return unmarshal(b, d.limits.Load().forMessage(len(b)))
}

// MessageLost implements channel.LossListener: the calls waiting for the sender learn
// that one of its messages, perhaps a reply, was lost on receipt.
func (d *dispatcher) MessageLost(l channel.LostMessage) {
	d.messageLost(l.Source, fmt.Errorf("rpc: %d-byte message from %s lost on receipt: %w", l.Size, l.Source.String(), l.Err))
}

// messageLost tells the calls in progress of every rpc.Channel that a message from src
// was lost.
func (d *dispatcher) messageLost(src channel.Member, err error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	for _, c := range d.byID {
		c.messageLost(src, err)
	}
}

// memberLeft tells the calls in progress of every rpc.Channel that the channel no longer
// lists mb: it will not reply.
func (d *dispatcher) memberLeft(mb channel.Member) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	for _, c := range d.byID {
		c.memberLeft(mb)
	}
}

// send sends a reply or a NoRpcChannelReply to one member.
func (d *dispatcher) send(ctx context.Context, to channel.Member, m *message, opts channel.SendOptions) error {
	data, err := m.marshal()
	if err != nil {
		return err
	}
	return d.sendData(ctx, to, data, opts)
}

// sendData sends a marshalled reply to one member.
func (d *dispatcher) sendData(ctx context.Context, to channel.Member, data []byte, opts channel.SendOptions) error {
	err := d.ch.SendMessage(ctx, []channel.Member{to}, &channel.Message{
		Options: opts &^ (channel.OptSyncAck | channel.OptByteMessage), Data: data})
	if err != nil {
		return fmt.Errorf("rpc: reply to %s: %w", to.String(), err)
	}
	return nil
}

// isMember reports whether src is the local member or a member of ch, matching a member
// listed without a unique id by its address alone: the channel's own sender check
// (channel.Config.AcceptNonMembers).
func isMember(ch *channel.Channel, src channel.Member) bool {
	if src.Key() == ch.LocalMember().Key() {
		return true
	}
	_, ok := channel.ListedAs(ch.Member, src)
	return ok
}
