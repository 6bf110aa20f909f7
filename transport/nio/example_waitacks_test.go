package nio_test

import (
	"context"
	"fmt"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/transport/nio"
)

// A receiver that must not stop before the ACKs of what it took are written (Stop closes
// the inbound connections) waits for them with WaitAcks: its ReceiveFunc returns before
// a synchronized ACK is written.
func ExampleTransport_WaitAcks() {
	ctx := context.Background()
	cfg := nio.DefaultConfig()
	cfg.Port = 0
	receiver, err := nio.New(cfg)
	if err != nil {
		panic(err)
	}
	took := make(chan struct{}, 1)
	err = receiver.Start(ctx, channel.SvcTransport, func(*channel.Message) error {
		took <- struct{}{}
		return nil
	})
	if err != nil {
		panic(err)
	}
	sender, err := nio.New(cfg)
	if err != nil {
		panic(err)
	}
	if err := sender.Start(ctx, channel.SvcSender, nil); err != nil {
		panic(err)
	}
	defer sender.Stop(ctx, channel.SvcSender)
	a := receiver.LocalAddress()
	to := []channel.Member{{Host: a.Host, Port: a.Port, SecurePort: -1, UDPPort: -1}}
	go sender.Send(ctx, to, &channel.Message{
		Options: channel.OptByteMessage | channel.OptUseAck | channel.OptSyncAck,
		ID:      channel.NewMessageID(),
		Source:  channel.Member{Host: []byte{127, 0, 0, 1}, Port: 1, SecurePort: -1, UDPPort: -1},
		Data:    []byte("last one"),
	})
	<-took
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := receiver.WaitAcks(wctx, 1); err != nil {
		panic(err)
	}
	fmt.Println("ACKs written:", receiver.Stats().AcksSent)
	_ = receiver.Stop(ctx, channel.SvcTransport)
	// Output:
	// ACKs written: 1
}
