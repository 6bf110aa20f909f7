package channel

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors. Use errors.Is; a *SendError matches each cause of its faulty members.
var (
	// ErrNotStarted: the operation needs a level of the channel that is not running.
	ErrNotStarted = errors.New("tribes: channel not started")
	// ErrAlreadyStarted: Start was asked only for levels that already run.
	ErrAlreadyStarted = errors.New("tribes: channel already started")
	// ErrNoMembers: there is no destination (none given and the group is empty).
	ErrNoMembers = errors.New("tribes: no destination members")
	// ErrAckTimeout: a member did not acknowledge within the ack timeout.
	ErrAckTimeout = errors.New("tribes: ack timeout")
	// ErrAckFailed: a member answered FAIL_ACK: a listener there failed to process the
	// message, or none accepted it (ErrUnaccepted there), or the sender is not its member
	// (ErrNotMember there).
	ErrAckFailed = errors.New("tribes: member failed to process the message (FAIL_ACK)")
	// ErrConnect: a connection to a member could not be opened (refused, unreachable, timed out).
	ErrConnect = errors.New("tribes: cannot connect to member")
	// ErrConnectionLost: the connection to a member broke while sending or waiting for the ACK.
	ErrConnectionLost = errors.New("tribes: connection to member lost")
	// ErrInvalidConfig wraps every configuration error.
	ErrInvalidConfig = errors.New("tribes: invalid configuration")
	// ErrMessageTooLarge: the message exceeds a size limit (a UDP datagram, a multicast packet).
	ErrMessageTooLarge = errors.New("tribes: message too large")
	// ErrNoBroadcast: OptMulticast was asked but the membership service cannot broadcast.
	ErrNoBroadcast = errors.New("tribes: membership service cannot broadcast")
	// ErrNotMember: a received message came from a member that is not in the membership;
	// the channel dropped it (see Config.AcceptNonMembers). A synchronized-ack sender gets
	// a FAIL_ACK.
	ErrNotMember = errors.New("tribes: message from a non-member dropped")
	// ErrUnaccepted: no listener accepted a received synchronized-ack message; the
	// channel answers FAIL_ACK (see Config.AckUnaccepted). The sender sees ErrAckFailed:
	// the wire has no room for the reason.
	ErrUnaccepted = errors.New("tribes: no listener accepted the message")
	// ErrReceiverFailed: a running receiver stopped by itself (for example its listener on
	// descriptor exhaustion). Reported through HealthListener and Channel.Health.
	ErrReceiverFailed = errors.New("tribes: receiver failed")
)

// FaultyMember is one member a send failed for, with the reason (Tribes' FaultyMember).
type FaultyMember struct {
	Member Member
	// Err wraps one of ErrAckTimeout, ErrAckFailed, ErrConnect, ErrConnectionLost,
	// context.Canceled / context.DeadlineExceeded, or another cause.
	Err error
}

// SendError reports the members a message could not be delivered to. The other
// destinations did get the message, or, for an asynchronous send (OptAsync through the
// message dispatch interceptor), their copies were queued and the message's OnComplete
// reports their outcome. It is Tribes' ChannelException with faulty members.
type SendError struct {
	// MessageID is the id of the message that failed.
	MessageID []byte
	// Faulty lists every member the send failed for.
	Faulty []FaultyMember
}

// Error names the message, how many members it failed for, and each of them with its
// error (only the first four when there are more than five).
func (e *SendError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "tribes: send of message %s failed for %d member(s)", hex.EncodeToString(e.MessageID), len(e.Faulty))
	for i, f := range e.Faulty {
		if i == 4 && len(e.Faulty) > 5 {
			fmt.Fprintf(&b, "; and %d more", len(e.Faulty)-i)
			break
		}
		fmt.Fprintf(&b, "; %s: %v", f.Member.Addr(), f.Err)
	}
	return b.String()
}

// Unwrap returns the cause of each faulty member, so that errors.Is and errors.As look into them.
func (e *SendError) Unwrap() []error {
	errs := make([]error, len(e.Faulty))
	for i, f := range e.Faulty {
		errs[i] = f.Err
	}
	return errs
}

// NewSendError is how every layer reports a failed send: a *SendError for the message id
// naming faulty, or nil when faulty is empty. Build faulty with AppendFaulty, which also
// attributes one cause to a whole list of members.
func NewSendError(id []byte, faulty []FaultyMember) error {
	if len(faulty) == 0 {
		return nil
	}
	return &SendError{MessageID: id, Faulty: faulty}
}

// FaultyMembers returns the faulty members of err if it is or wraps a *SendError.
func FaultyMembers(err error) []FaultyMember {
	if err == nil {
		return nil // without errors.As, whose target would escape: no allocation
	}
	var se *SendError
	if errors.As(err, &se) {
		return se.Faulty
	}
	return nil
}

// AppendFaulty merges the faulty members of err into dst: a *SendError contributes its
// members; any other non-nil error is attributed to every member of to.
func AppendFaulty(dst []FaultyMember, err error, to []Member) []FaultyMember {
	if err == nil {
		return dst
	}
	var se *SendError
	if errors.As(err, &se) {
		return append(dst, se.Faulty...)
	}
	for _, m := range to {
		dst = append(dst, FaultyMember{Member: m, Err: err})
	}
	return dst
}
