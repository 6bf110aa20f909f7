package rpc

import (
	"context"
	"fmt"
	"sync"

	"github.com/gotribes/tribes/channel"
)

// dispatcher is the one message listener the package registers on a channel.Channel: it
// decodes each RpcMessage once, hands it to the rpc.Channel with its id, and answers a
// NoRpcChannelReply when there is none (what Java's GroupChannel does for an RpcMessage
// no RpcChannel accepted).
type dispatcher struct {
	ch     *channel.Channel
	remove func()

	mu   sync.RWMutex
	byID map[string]*Channel
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
		d.remove = d.ch.AddMessageListener(d)
		registry[d.ch] = d
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, dup := d.byID[string(c.cfg.ID)]; dup {
		return fmt.Errorf("%w: %q", ErrDuplicateID, c.cfg.ID)
	}
	c.disp = d
	d.byID[string(c.cfg.ID)] = c
	return nil
}

// unregister removes c; the last rpc.Channel of a channel.Channel removes the listener.
func unregister(c *Channel) {
	regMu.Lock()
	defer regMu.Unlock()
	d := c.disp
	d.mu.Lock()
	delete(d.byID, string(c.cfg.ID))
	empty := len(d.byID) == 0
	d.mu.Unlock()
	if empty {
		d.remove()
		delete(registry, d.ch)
	}
}

// Accept takes the messages that hold an RpcMessage, without decoding them.
func (d *dispatcher) Accept(msg *channel.Message) bool {
	return msg.Options&channel.OptByteMessage == 0 && isMessage(msg.Data)
}

// AcceptNonMember implements channel.NonMemberListener: a message of a non-member is taken
// when its rpc.Channel was configured with AcceptNonMembers.
func (d *dispatcher) AcceptNonMember(msg *channel.Message) bool {
	if !d.Accept(msg) {
		return false
	}
	m, err := unmarshal(msg.Data)
	if err != nil {
		return false
	}
	d.mu.RLock()
	c := d.byID[string(m.rpcID)]
	d.mu.RUnlock()
	return c != nil && c.cfg.AcceptNonMembers
}

// MessageReceived routes the message by its rpc id.
func (d *dispatcher) MessageReceived(msg *channel.Message) error {
	m, err := unmarshal(msg.Data)
	if err != nil {
		return fmt.Errorf("rpc: message %s from %s: %w", msg.IDString(), msg.Source.String(), err)
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
	// As GroupChannel.sendNoRpcChannelReply: asynchronous, no ACK.
	return d.send(msg.Source, &message{noChannel: true, reply: true, uuid: m.uuid, rpcID: m.rpcID}, channel.OptAsync)
}

// send sends a reply or a NoRpcChannelReply to one member.
func (d *dispatcher) send(to channel.Member, m *message, opts channel.SendOptions) error {
	data, err := m.marshal()
	if err != nil {
		return err
	}
	err = d.ch.SendMessage(context.Background(), []channel.Member{to}, &channel.Message{
		Options: opts &^ (channel.OptSyncAck | channel.OptByteMessage), Data: data})
	if err != nil {
		return fmt.Errorf("rpc: reply to %s: %w", to.String(), err)
	}
	return nil
}
