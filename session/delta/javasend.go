package delta

import (
	"context"
	"errors"

	"github.com/gotribes/tribes/channel"
)

// objectCodec is implemented by codecs whose messages are Java objects (JavaCodec): they
// travel without OptByteMessage, as Tomcat's SimpleTcpCluster sends ClusterMessages.
type objectCodec interface{ objectMessages() }

// messageSender is the part of *channel.Channel that sends a prepared message.
type messageSender interface {
	SendMessage(ctx context.Context, to []channel.Member, msg *channel.Message) error
}

// ErrNoObjectMessages is returned by sends of a cluster whose codec sends Java objects
// (JavaCodec) over a Channel that has no SendMessage method to send them with.
var ErrNoObjectMessages = errors.New("delta: the codec sends Java objects but the channel has no SendMessage method")

// send sends an encoded session message: as a byte message, or as a Java object message
// when the codec is an objectCodec.
func (c *Cluster) send(ctx context.Context, to []channel.Member, data []byte, opts channel.SendOptions) error {
	if _, ok := c.codec.(objectCodec); !ok {
		return c.ch.Send(ctx, to, data, opts)
	}
	s, ok := c.ch.(messageSender)
	if !ok {
		return ErrNoObjectMessages
	}
	return s.SendMessage(ctx, to, &channel.Message{Options: opts &^ channel.OptByteMessage, Data: data})
}
