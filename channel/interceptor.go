package channel

import "context"

// Interceptor is one layer of a channel's stack, between the application at the top and the
// coordinator (transport and membership) at the bottom. Messages and member queries travel
// down; received messages and membership events travel up.
//
// Implementations embed *InterceptorBase (or InterceptorBase) and override only what they
// need; the base forwards everything to the neighbouring layer. The chain is built once by
// New and never changes, so an interceptor's links need no locking. Interceptors must be
// safe for concurrent use: SendMessage runs on every sending goroutine and MessageReceived
// on every receiving connection's worker at once.
//
// Start calls Next().Start before starting its own goroutines; Stop stops its own first and
// then calls Next().Stop. Stop may be called for levels that are not running: when a
// Stop's ctx ended before the stop finished (its error then wraps ctx's), or a failed
// Start's undo ran out of its bound (FailedStartContext), the channel's next Stop or Start
// of those levels calls Stop again, with its own ctx, to wait for it. Heartbeat is called
// every Config.HeartbeatInterval by the channel's heartbeat goroutine, one beat at a time
// (besides any Channel.Heartbeat call of the application's), and must not block.
type Interceptor interface {
	// SendMessage passes a message down towards the transport.
	SendMessage(ctx context.Context, to []Member, msg *Message) error
	// MessageReceived passes a received message up towards the listeners. A non-nil error
	// makes the receiver answer FAIL_ACK to a synchronized-ack message.
	MessageReceived(msg *Message) error
	// MemberAdded passes a membership event up.
	MemberAdded(m Member)
	// MemberDisappeared passes a membership event up.
	MemberDisappeared(m Member)
	// Members returns the current members, oldest first. An interceptor that changes
	// nothing may return the layer below's slice itself, which may be shared with every
	// caller (see MembershipService.Members): callers must not modify its elements.
	Members() []Member
	// Member looks one member up.
	Member(key MemberKey) (Member, bool)
	// LocalMember returns the local member; with incAlive its AliveTime is current.
	LocalMember(incAlive bool) Member
	// Heartbeat runs periodic work (expiry, probes) and passes the call down.
	Heartbeat()
	// Start starts the given levels.
	Start(ctx context.Context, svc Service) error
	// Stop stops the given levels.
	Stop(ctx context.Context, svc Service) error
	// OptionFlag is the option bit this interceptor reacts to; 0 means every message.
	OptionFlag() SendOptions

	base() *InterceptorBase
}

// InterceptorBase is the embeddable default of an Interceptor: every method forwards to the
// next (downwards) or previous (upwards) layer. Embedding it is required: the unexported
// method it carries lets this interface grow without breaking implementations.
type InterceptorBase struct {
	// Flag is the option bit the interceptor reacts to (Tribes' optionFlag); 0 means all.
	Flag SendOptions

	next, prev Interceptor
	// top: the first layer of the chain, the channel's own (its Member is the channel's
	// member check)
	top Interceptor
	// open: the channel delivers messages of senders that are not members
	// (Config.AcceptNonMembers, or no Membership).
	open bool
}

func (b *InterceptorBase) base() *InterceptorBase { return b }

// Next is the layer below (towards the network). Valid once the channel is built.
func (b *InterceptorBase) Next() Interceptor { return b.next }

// Prev is the layer above (towards the application). Valid once the channel is built.
func (b *InterceptorBase) Prev() Interceptor { return b.prev }

// ChannelMember looks a member up as the channel's sender check does: from the top of the
// chain, so that a member an interceptor above this one lists (a StaticMembership) counts
// (TestMemberOfAStaticMembershipAboveIsAMember). Valid once the channel is built; an
// interceptor must not call it from its own Member.
func (b *InterceptorBase) ChannelMember(key MemberKey) (Member, bool) {
	if b.top == nil {
		return b.next.Member(key)
	}
	return b.top.Member(key)
}

// SendersChecked reports whether the channel delivers only messages of its members (the
// default: Config.AcceptNonMembers unset and a Membership configured), so that an
// interceptor that holds received messages before they reach that check may refuse a
// non-member's at once. Valid once the channel is built.
func (b *InterceptorBase) SendersChecked() bool { return b.next != nil && !b.open }

// OptionFlag returns Flag.
func (b *InterceptorBase) OptionFlag() SendOptions { return b.Flag }

// OKToProcess reports whether the interceptor should act on a message with these options:
// Flag is 0, or every bit of Flag is set (Tribes' okToProcess).
func (b *InterceptorBase) OKToProcess(o SendOptions) bool { return b.Flag == 0 || o&b.Flag == b.Flag }

// SendMessage forwards down.
func (b *InterceptorBase) SendMessage(ctx context.Context, to []Member, msg *Message) error {
	return b.next.SendMessage(ctx, to, msg)
}

// MessageReceived forwards up.
func (b *InterceptorBase) MessageReceived(msg *Message) error { return b.prev.MessageReceived(msg) }

// MemberAdded forwards up.
func (b *InterceptorBase) MemberAdded(m Member) { b.prev.MemberAdded(m) }

// MemberDisappeared forwards up.
func (b *InterceptorBase) MemberDisappeared(m Member) { b.prev.MemberDisappeared(m) }

// Members forwards down.
func (b *InterceptorBase) Members() []Member { return b.next.Members() }

// Member forwards down.
func (b *InterceptorBase) Member(key MemberKey) (Member, bool) { return b.next.Member(key) }

// LocalMember forwards down.
func (b *InterceptorBase) LocalMember(incAlive bool) Member { return b.next.LocalMember(incAlive) }

// Heartbeat forwards down.
func (b *InterceptorBase) Heartbeat() { b.next.Heartbeat() }

// Start forwards down.
func (b *InterceptorBase) Start(ctx context.Context, svc Service) error {
	return b.next.Start(ctx, svc)
}

// Stop forwards down.
func (b *InterceptorBase) Stop(ctx context.Context, svc Service) error { return b.next.Stop(ctx, svc) }
