package node_test

import (
	"context"
	"fmt"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/node"
	"github.com/gotribes/tribes/transport/nio"
)

// Two nodes on loopback: A lists no one but accepts messages from nodes it does not list;
// B lists A as a static member and sends to it.
func Example() {
	ctx := context.Background()
	loopback := &nio.Config{Address: "127.0.0.1"} // ephemeral port
	a, err := node.New(node.Config{Transport: loopback, Interceptors: "order", AcceptNonMembers: true})
	if err != nil {
		panic(err)
	}
	got := make(chan string, 1)
	a.AddMessageListener(channel.MessageListenerFunc(func(m *channel.Message) error {
		got <- string(m.Data)
		return nil
	}))
	if err := a.Start(ctx, channel.SvcAll); err != nil {
		panic(err)
	}
	defer a.Stop(ctx, channel.SvcAll)

	b, err := node.New(node.Config{Transport: loopback, Interceptors: "order",
		StaticMembers: []channel.Member{a.LocalMember()}})
	if err != nil {
		panic(err)
	}
	if err := b.Start(ctx, channel.SvcAll); err != nil {
		panic(err)
	}
	defer b.Stop(ctx, channel.SvcAll)

	fmt.Println("B's members:", len(b.Members()))
	if err := b.Send(ctx, b.Members(), []byte("hello"), channel.OptUseAck); err != nil {
		panic(err)
	}
	fmt.Println("A received:", <-got)
	// Output:
	// B's members: 1
	// A received: hello
}
