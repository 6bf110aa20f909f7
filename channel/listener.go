package channel

// MessageListener receives messages that reach the top of the chain.
//
// Applications sharing a channel are isolated by Accept: a listener sees only the messages
// it accepts, and its error fails (FAIL_ACK) only messages it accepted. A listener that
// accepts more than its own messages (a CatchAllListener: MessageListenerFunc, every
// message; objects.Func, every serialized object) is the exception: its error counts only
// when no other listener accepted the message, so a catch-all application returning
// errors for messages that are not its own cannot fail the messages of an application that
// owns them (a session manager's, an rpc channel's). Such errors are still counted
// (Stats.ListenerFailures). Give each application a listener whose Accept recognises its
// own messages; then every error it returns reaches the sender. A synchronized-ack message
// that no listener accepts is answered FAIL_ACK too (Config.AckUnaccepted), so a node that
// does not run an application tells that application's senders at once.
//
// Concurrency: MessageReceived may be called from several goroutines at once (one per
// inbound connection); the messages of one connection arrive one at a time and in order.
// The call runs on the receiver's worker pool, not on a network event loop, but a slow
// listener still delays that connection and, for acknowledged messages, the sender.
type MessageListener interface {
	// Accept is a cheap filter (Tribes' accept); only accepted messages are delivered.
	Accept(msg *Message) bool
	// MessageReceived handles the message. A non-nil error is reported to a
	// synchronized-ack sender as FAIL_ACK, subject to the isolation rule above.
	MessageReceived(msg *Message) error
}

// NonMemberListener is implemented by message listeners that take some messages from
// senders that are not members (yet), such as a membership protocol running over the
// channel (membership/staticsvc). The channel's sender check (Config.AcceptNonMembers)
// hands a message of a non-member to the listeners whose AcceptNonMember returns true for
// it, and only to them; other listeners never see it.
type NonMemberListener interface {
	MessageListener
	AcceptNonMember(msg *Message) bool
}

// CatchAllListener is implemented by message listeners whose Accept takes more than their
// application's own messages: their errors fail a message only when no other listener
// accepted it (see MessageListener).
type CatchAllListener interface {
	MessageListener
	// CatchAll marks the listener; it is never called.
	CatchAll()
}

// MessageListenerFunc adapts a function to a MessageListener that accepts every message.
// It is a CatchAllListener: its errors fail a message only when no other listener
// accepted it.
type MessageListenerFunc func(msg *Message) error

// Accept returns true.
func (f MessageListenerFunc) Accept(*Message) bool { return true }

// MessageReceived calls f.
func (f MessageListenerFunc) MessageReceived(msg *Message) error { return f(msg) }

// CatchAll implements CatchAllListener.
func (f MessageListenerFunc) CatchAll() {}

// MembershipListener learns of members joining and leaving.
//
// Concurrency: calls are never concurrent with each other and arrive in the order the
// events happened. They must not block for long: they hold up further events.
type MembershipListener interface {
	MemberAdded(m Member)
	MemberDisappeared(m Member)
}

// MembershipFuncs adapts two functions to a MembershipListener; either may be nil.
type MembershipFuncs struct {
	Added       func(Member)
	Disappeared func(Member)
}

// MemberAdded calls Added if set.
func (f MembershipFuncs) MemberAdded(m Member) {
	if f.Added != nil {
		f.Added(m)
	}
}

// MemberDisappeared calls Disappeared if set.
func (f MembershipFuncs) MemberDisappeared(m Member) {
	if f.Disappeared != nil {
		f.Disappeared(m)
	}
}

// Heartbeater is implemented by listeners that want the channel's heartbeat too (Tribes'
// Heartbeat interface on listeners).
type Heartbeater interface {
	Heartbeat()
}

// LostMessage describes a message the transport received only in part and dropped.
type LostMessage struct {
	// Source is the sender, as the message's own header names it (the message never
	// reached the membership check, so it may be a non-member).
	Source Member
	// Size is the message frame's body length as its header announced it, in bytes.
	Size int
	// Err says why, wrapping ErrMessageTooLarge (the frame exceeded the receiver's limit,
	// transport/nio's MaxFrameSize) or ErrConnectionLost (its connection closed before
	// the frame arrived whole: the sender gave up, for example after its ack timeout).
	Err error
}

// LossListener is implemented by listeners (message or membership listeners) that want to
// know when the transport lost a message from a member (a transport implementing
// LossReporter: transport/nio). The message never reached the interceptors or any
// listener; only its sender and size are known. MessageLost runs on the transport's
// receiving goroutine: it must not block.
type LossListener interface {
	MessageLost(l LostMessage)
}

// HealthListener is implemented by listeners (message or membership listeners) that want to
// know when a running part of the channel fails by itself or recovers: err is the failure
// (wrapping ErrReceiverFailed, for example), nil the recovery. Calls are serialised with
// membership events.
type HealthListener interface {
	HealthChanged(err error)
}
