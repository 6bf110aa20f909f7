// Package channel is the core of the Go port of Apache Tomcat Tribes: the group channel.
//
// A Channel sends byte messages to members of a group and delivers what it receives to
// listeners. Between the application and the network sits a chain of interceptors (message
// dispatch, failure detection, compression, ordering, ...) with a coordinator at the bottom
// that owns a Transport (transport/nio for TCP, wire-compatible with Java Tribes) and a
// MembershipService (membership/static, membership/mcast).
//
//	application
//	    │ Send                       ▲ MessageListener / MembershipListener
//	    ▼                            │
//	Interceptors[0] … Interceptors[n-1]   (down: SendMessage, Members; up: MessageReceived, MemberAdded)
//	    ▼                            │
//	coordinator ── Transport (receiver, sender) ── MembershipService
//
// # Usage
//
// Build a Config with a transport and a membership service, call New, register listeners,
// then Start(ctx, SvcAll). Send(ctx, members, data, opts) returns once every destination has
// the message as opts ask: OptUseAck waits for the receiver's ACK, OptUseAck|OptSyncAck waits
// until the receiver's listeners processed it (a listener error comes back as ErrAckFailed).
// A failure names every faulty member in a *SendError.
//
// # Acknowledgements
//
// A synchronized-ack message (OptUseAck|OptSyncAck) is answered after the listeners ran:
// ACK when they succeeded, FAIL_ACK (ErrAckFailed at the sender) when
//   - a listener that accepted it as its own returned an error (a CatchAllListener's error
//     counts only when no other listener accepted the message, see MessageListener),
//   - no listener accepted it (ErrUnaccepted), so that the sender learns nobody handled
//     it; Config.AckUnaccepted answers ACK instead, as Java Tribes does,
//   - its source is not a member (ErrNotMember, see below).
//
// A message with OptUseAck alone is answered ACK on receipt, before any listener runs. Stop(ctx, SvcAll) shuts down; calling
// it again is a no-op, unless a level's stop (an interceptor's, the transport's, the
// membership service's) was still running when the first Stop's ctx ended: the later Stop
// waits for it, within its own ctx (see Channel.Stop). Start may be
// called again afterwards.
//
// # Levels
//
// Tribes starts a channel in four levels with fixed values: SvcReceiver (1), SvcSender (2),
// SvcMembershipRx (4), SvcMembershipTx (8). They start in that order (the receiver's address
// becomes the local member's) and stop in reverse; a failed Start undoes what it started,
// within 5 seconds of failing (or its ctx): an interceptor that stops levels it started
// itself when a Start fails does so with FailedStartContext, sharing that bound.
//
// # Who may send
//
// Listeners see only messages from members: a received message whose source is neither
// the local member nor a member the chain lists (Channel.Member) is dropped, counted in
// Stats.NonMemberDropped and answered with FAIL_ACK to a synchronized-ack sender
// (ErrNotMember). Interceptors below the top still see everything, so their own traffic
// (membership notices, pings, failure-detector probes) works before a node is listed, and
// listeners that implement NonMemberListener (a membership protocol over the channel) get
// the messages of non-members they accept. Some interceptors refuse non-members' messages
// themselves (Config.AcceptNonMembers says which).
// Config.AcceptNonMembers turns the check off; a channel without a membership service has
// no members and does not check. Java Tribes has no such check.
//
// # Health
//
// A transport or membership service that implements HealthReporter tells the channel when a
// running level fails by itself (the nio receiver whose listener died on descriptor
// exhaustion) and when it recovered. Channel.Healthy is false in between, listeners that
// implement HealthListener are told, and Stats.HealthFailures counts the failures.
// Failures are logged rate-limited per reporter (the first lines a minute, then a count,
// written with the next line after the minute or when the channel stops:
// TestHealthSuppressedCountLoggedAtStop): a stranger churning connections at the
// descriptor limit makes them at will (TestHealthFlappingLogBounded). A recovery is
// logged when its failure was, so that the last line about a reporter that recovered
// never says the channel is unhealthy (TestHealthLastLineIsTheState).
//
// # Lost messages
//
// A transport that implements LossReporter tells the channel about a message it received
// only in part and dropped: refused as larger than its limit (ErrMessageTooLarge), or cut
// off when its connection closed (ErrConnectionLost). The channel counts it
// (Stats.MessagesLost), logs it (rate-limited per sender) and tells the listeners that
// implement LossListener, with the sender and the size (LostMessage): an application
// waiting for a member's message learns that it will not come. Java Tribes has no such
// report. A transport that implements ArrivalReporter also tells whether a message from a
// member has begun to arrive and is neither delivered nor lost yet (Channel.Arriving), so
// that a message announced by another one, which may overtake it on another connection,
// can be waited for.
//
// # Received buffers
//
// A received message's Data belongs to the receiving side, and a listener may keep it. A
// listener that does not, and knows that nothing else does (no other listener that
// accepts the message keeps it), may call Message.Release when it is done: the transport
// then receives a later message into the same memory (transport/nio does so for frames of
// 32 KiB and more), which saves allocating, zeroing and collecting a new buffer per large
// message. Not releasing is always safe: the buffer is then garbage-collected as usual.
//
// # Concurrency
//
// Message listeners may run concurrently, one goroutine per inbound connection, in order per
// connection. Membership listeners are called one at a time, in event order. Interceptors
// must be safe for concurrent use. The interceptor chain is fixed at New.
//
// # Wire compatibility
//
// Option bits, levels, member records and the ACK frames are Java Tribes'; see package wire
// and docs/wire-format.md. Where Java answers ACK to a synchronized-ack message that no
// listener accepted or whose source is not a member, a Go channel answers FAIL_ACK by
// default (Config.AckUnaccepted, Config.AcceptNonMembers).
package channel
