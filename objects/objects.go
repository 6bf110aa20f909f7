package objects

import (
	"context"
	"errors"
	"fmt"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/jserial"
)

// ErrByteMessage is returned by Decode for a message whose payload is raw bytes
// (OptByteMessage set) rather than a Java serialization stream.
var ErrByteMessage = errors.New("objects: message is a byte message, not a serialized object")

// Marshal returns the payload Send sends for v: a Java serialization stream holding v.
func Marshal(v any) ([]byte, error) {
	b, err := jserial.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("objects: marshal %T: %w", v, err)
	}
	return b, nil
}

// Send sends v as a Java-serialized object to the members in to (every current member
// when to is empty), as GroupChannel.send does for a Serializable that is not a
// ByteMessage: the payload is jserial.Marshal(v) and OptByteMessage is cleared from
// opts. Errors are those of channel.Channel.SendMessage, or a marshalling error
// wrapping jserial.ErrType.
func Send(ctx context.Context, ch *channel.Channel, to []channel.Member, v any, opts channel.SendOptions) error {
	b, err := Marshal(v)
	if err != nil {
		return err
	}
	return ch.SendMessage(ctx, to, &channel.Message{Options: opts &^ channel.OptByteMessage, Data: b})
}

// Decode returns the value a message without OptByteMessage carries, decoded with
// jserial's default limits. The error wraps ErrByteMessage for a byte message, or a
// *jserial.DecodeError.
func Decode(msg *channel.Message) (any, error) {
	if msg.Options&channel.OptByteMessage != 0 {
		return nil, ErrByteMessage
	}
	v, err := jserial.Unmarshal(msg.Data)
	if err != nil {
		return nil, fmt.Errorf("objects: message %s from %s: %w", msg.IDString(), msg.Source.String(), err)
	}
	return v, nil
}

// Func is a channel.MessageListener for Java-serialized messages: it accepts the
// messages without OptByteMessage and calls f with the decoded value and the sender.
// An error from f, or from decoding, goes back to the channel: FAIL_ACK for a
// synchronized-ack sender when no other listener accepted the message (Func is a
// channel.CatchAllListener). Register it with channel.Channel.AddMessageListener.
type Func func(v any, from channel.Member) error

// Accept accepts the messages whose payload is a serialization stream.
func (f Func) Accept(msg *channel.Message) bool { return msg.Options&channel.OptByteMessage == 0 }

// CatchAll implements channel.CatchAllListener: Func accepts every serialized object,
// those of rpc channels and membership protocols too, so its errors fail a message only
// when no other listener accepted it.
func (f Func) CatchAll() {}

// MessageReceived decodes the payload and calls f.
func (f Func) MessageReceived(msg *channel.Message) error {
	v, err := Decode(msg)
	if err != nil {
		return err
	}
	return f(v, msg.Source)
}
