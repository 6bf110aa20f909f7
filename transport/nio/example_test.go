package nio_test

import (
	"context"
	"fmt"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/transport/nio"
)

// Two transports on loopback ephemeral ports; one sends a synchronized-ack message to the
// other, whose ReceiveFunc prints it before the ACK goes back. (It shows the transport on
// its own, so it builds it with nio.New; package node wires one into a channel.)
func Example() {
	ctx := context.Background()
	cfg := nio.DefaultConfig() // 127.0.0.1, Tomcat's defaults
	cfg.Port = 0               // an ephemeral port instead of 4000…4099

	receiver, err := nio.New(cfg)
	if err != nil {
		panic(err)
	}
	err = receiver.Start(ctx, channel.SvcTransport, func(m *channel.Message) error {
		fmt.Printf("received %q, options %#x\n", m.Data, uint32(m.Options))
		return nil
	})
	if err != nil {
		panic(err)
	}
	defer receiver.Stop(ctx, channel.SvcTransport)

	sender, err := nio.New(cfg)
	if err != nil {
		panic(err)
	}
	if err := sender.Start(ctx, channel.SvcTransport, func(*channel.Message) error { return nil }); err != nil {
		panic(err)
	}
	defer sender.Stop(ctx, channel.SvcTransport)

	// Members as a membership service would announce them.
	member := func(a channel.LocalAddress) channel.Member {
		return channel.Member{Host: a.Host, Port: a.Port, SecurePort: a.SecurePort, UDPPort: a.UDPPort}
	}
	to := []channel.Member{member(receiver.LocalAddress())}
	msg := &channel.Message{
		Options:   channel.OptByteMessage | channel.OptUseAck | channel.OptSyncAck,
		Timestamp: time.Now().UnixMilli(),
		ID:        channel.NewMessageID(),
		Source:    member(sender.LocalAddress()),
		Data:      []byte("hello, tribes"),
	}
	if err := sender.Send(ctx, to, msg); err != nil {
		panic(err)
	}
	fmt.Println("acknowledged")
	// Output:
	// received "hello, tribes", options 0x7
	// acknowledged
}
