package rpc_test

import (
	"context"
	"fmt"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/rpc"
)

// Two nodes with an rpc.Channel each: one calls the other and waits for every reply.
// With transport/nio and a Java node running an RpcChannel with the same id the code is
// the same.
func Example() {
	nw := channeltest.NewNetwork()
	ctx := context.Background()
	var rpcs []*rpc.Channel
	for i := range 2 {
		n := nw.NewNode()
		ch, err := channel.New(channel.Config{Transport: n.Transport(), Membership: n.Membership()})
		if err != nil {
			panic(err)
		}
		if err := ch.Start(ctx, channel.SvcAll); err != nil {
			panic(err)
		}
		defer ch.Stop(ctx, channel.SvcAll)
		name := fmt.Sprint("node", i)
		r, err := rpc.New(rpc.Config{
			Channel: ch,
			ID:      []byte("greeter"),
			Handler: rpc.HandlerFunc(func(msg any, from channel.Member) (any, error) {
				return fmt.Sprintf("%s greets %v", name, msg), nil
			}),
		})
		if err != nil {
			panic(err)
		}
		defer r.Close(context.Background())
		rpcs = append(rpcs, r)
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second) // Java's timeout argument
	defer cancel()
	responses, err := rpcs[0].Call(ctx, nil, "node0", rpc.AllReply, channel.OptUseAck)
	fmt.Println("error:", err)
	for _, r := range responses {
		fmt.Printf("%q from port %d\n", r.Message, r.Member.Port)
	}
	// Output:
	// error: <nil>
	// "node1 greets node0" from port 4001
}
