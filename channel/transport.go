package channel

import "context"

// ReceiveFunc is how a transport hands a received message to the channel. A non-nil error
// means processing failed: the transport answers FAIL_ACK to a synchronized-ack message.
// The function may block while listeners run; transports call it off their I/O loops.
type ReceiveFunc func(msg *Message) error

// LocalAddress is where a transport's receiver listens, as advertised in the local member.
type LocalAddress struct {
	Host       []byte // 4 or 16 address bytes
	Port       int32
	SecurePort int32 // -1 if none
	UDPPort    int32 // -1 if none
}

// Transport moves messages between members: the bottom of the chain uses it for every send
// that is not a multicast broadcast. transport/nio implements it over TCP; channeltest
// implements it in memory.
type Transport interface {
	// Start starts the levels of svc that concern it (SvcReceiver, SvcSender). The receiver
	// delivers every message to rx. Start with SvcReceiver must leave LocalAddress valid.
	// A Start that fails may have started its level, in part or whole: the channel's
	// failed Start calls Stop for that level all the same
	// (TestFailedStartStopsTheTransportLevelThatFailed).
	Start(ctx context.Context, svc Service, rx ReceiveFunc) error
	// Stop stops those levels; stopping a stopped level is a no-op.
	Stop(ctx context.Context, svc Service) error
	// LocalAddress reports the receiver's advertised address once it has started.
	LocalAddress() LocalAddress
	// Send delivers msg to every member of to in parallel, waiting for ACKs as the options
	// say, until ctx ends or the transport's ack timeout passes. It returns nil or a
	// *SendError naming each member that failed.
	Send(ctx context.Context, to []Member, msg *Message) error
	// Heartbeat does periodic upkeep (closing idle or expired connections).
	Heartbeat()
}

// MembershipService keeps the list of members. membership/static and membership/mcast
// implement it; channeltest implements it in memory.
type MembershipService interface {
	// Start starts the levels of svc that concern it (SvcMembershipRx, SvcMembershipTx).
	// local is the local member (address from the transport, id, domain, payload). Events go
	// to l, one at a time and in order.
	Start(ctx context.Context, svc Service, local Member, l MembershipListener) error
	// Stop stops those levels; stopping a stopped level is a no-op.
	Stop(ctx context.Context, svc Service) error
	// Members returns the current members, oldest (largest AliveTime) first, never the local one.
	// It is called for every message sent to all members, so a service may return the same
	// slice to every caller until the membership changes: callers must not modify its
	// elements, and such a service returns it with its capacity equal to its length, so that
	// appending copies it.
	Members() []Member
	// Member looks one member up.
	Member(key MemberKey) (Member, bool)
	// Heartbeat does periodic upkeep (expiry checks, pings).
	Heartbeat()
}

// Broadcaster is implemented by membership services that can send a frame to the whole
// group at once (multicast): the coordinator uses it for OptMulticast.
type Broadcaster interface {
	Broadcast(ctx context.Context, msg *Message) error
}

// MessageReceiver is implemented by membership services that receive messages themselves
// (multicast broadcast frames): the coordinator gives them the chain's receive path before
// starting them.
type MessageReceiver interface {
	SetReceiveFunc(rx ReceiveFunc)
}

// LocalMemberUpdater is implemented by membership services that advertise the local
// member and must learn when it changes: its payload or domain (SetPayload, SetDomain),
// and its address when the receiver level restarts while a membership level runs
// (TestReceiverRestartAdvertisesNewAddress), as Tribes' coordinator calls
// setLocalMemberProperties. Updates are called one at a time, in the order of the changes,
// with the channel's local-member lock held: UpdateLocalMember must not call SetPayload
// or SetDomain.
type LocalMemberUpdater interface {
	UpdateLocalMember(m Member)
}

// ChannelUser is implemented by membership services that talk to the other members
// through the channel they belong to, as Tribes' StaticMembershipService runs its member
// protocol as RPCs over its GroupChannel: New hands them the channel (Tribes'
// MembershipService.setChannel). They may send once the sender level runs, which is
// before any membership level starts.
type ChannelUser interface {
	SetChannel(c *Channel)
}

// MemberForgetter is implemented by transports that keep connections per member: the
// channel calls ForgetMember when a member disappears (at the top of the chain, after the
// interceptors had their say), and the transport drops its pooled connections to it, so
// that a node restarted at the same address gets new connections, never one of its
// previous process (Tribes' ChannelCoordinator removes the member's senders the same way).
type MemberForgetter interface {
	ForgetMember(m Member)
}

// LossReporter is implemented by transports that can tell when they lost a message a
// member sent: the channel gives them, before starting them, a function to call with
// each such loss (see LostMessage). The function does not block; transports call it from
// their receiving goroutines.
type LossReporter interface {
	SetLossFunc(f func(LostMessage))
}

// ArrivalReporter is implemented by transports that can tell whether a message from a
// member is arriving: its first bytes, which name the sender, were received and the rest
// is still coming (transport/nio tells it of the frames it assembles, 32 KiB and larger).
// An application that learns by another message that the sender sent it (a state
// transfer's "complete", which may overtake it on another connection) can wait for it to
// arrive or be reported lost (LossReporter). Arriving must not block.
type ArrivalReporter interface {
	Arriving(from MemberKey) bool
}

// SenderChecker is implemented by transports that keep connections from senders: when
// the channel checks senders (Config.AcceptNonMembers unset and a Membership configured),
// it gives them, before starting them, the function by which it decides whether a
// message's source is the local member or a member (Config.AcceptNonMembers describes
// it). It does not block and may be called from any goroutine. The channel's check at the
// top of the chain never sees what interceptors below it consume, so a transport uses it
// to tell connections that carry members' messages from the others (transport/nio closes
// an idle one that carried only non-members', and bounds what its partial frames hold)
// without refusing any message itself.
type SenderChecker interface {
	SetSenderCheck(f func(src *Member) bool)
}

// HealthReporter is implemented by transports and membership services whose running levels
// can fail by themselves (a receiver whose listener died). The channel gives them, before
// starting them, a function to call with each failure and with nil once they recovered;
// Channel.Healthy reflects it.
type HealthReporter interface {
	SetHealthFunc(f func(err error))
}
