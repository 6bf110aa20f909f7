package node_test

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/membership/static"
	"github.com/gotribes/tribes/node"
	"github.com/gotribes/tribes/rpc"
	"github.com/gotribes/tribes/transport/nio"
)

// Two nodes, A and B, over TCP on loopback, each listing the other, with an rpc.Channel
// each for the same rpc id: A calls B and prints the reply. A Java node with an
// RpcChannel of the same id would answer the same call.
func Example_rpc() {
	ctx := context.Background()
	names := []string{"A", "B"}
	ids := []channel.UniqueID{{1}, {2}}

	var chans []*channel.Channel
	for i := range names {
		// Each node on a port of the kernel's choice; B lists A from the start, and A
		// adds B to its static list once B runs.
		cfg := node.Config{Transport: &nio.Config{Address: "127.0.0.1"}, UniqueID: ids[i]}
		if i == 1 {
			cfg.StaticMembers = []channel.Member{chans[0].LocalMember()}
		}
		ch, err := node.New(cfg)
		if err != nil {
			panic(err)
		}
		if err := ch.Start(ctx, channel.SvcAll); err != nil {
			panic(err)
		}
		defer ch.Stop(ctx, channel.SvcAll)
		chans = append(chans, ch)
	}
	if err := chans[0].Membership().(*static.Service).Add(ctx, chans[1].LocalMember()); err != nil {
		panic(err)
	}

	var rpcs []*rpc.Channel
	for i, name := range names {
		ch := chans[i]
		// Wait until the node lists the other: a static list does so once started,
		// multicast or cloud membership only after a moment. A channel drops requests
		// from nodes it does not list, and a call to no member fails.
		if err := ch.WaitForMembers(ctx, 1); err != nil {
			panic(err)
		}
		// Every rpc.Channel needs a handler; only B's is called here. B's rpc.Channel is
		// open before A calls: a Go node with none does not answer at all.
		r, err := rpc.New(rpc.Config{
			Channel: ch,
			ID:      []byte("greeter"), // Java: the rpcId byte[]
			Handler: rpc.HandlerFunc(func(msg any, from channel.Member) (any, error) {
				return fmt.Sprintf("%s greets %v", name, msg), nil // a string is a java.lang.String
			}),
		})
		if err != nil {
			panic(err)
		}
		defer r.Close(context.Background()) // before its channel stops (defers run last first)
		rpcs = append(rpcs, r)
	}

	ctx, cancel := context.WithTimeout(ctx, 5*time.Second) // Java's timeout argument
	defer cancel()
	// No members (nil) means every current member: B. AllReply waits for each reply.
	responses, err := rpcs[0].Call(ctx, nil, "A", rpc.AllReply, channel.OptUseAck)
	fmt.Println("error:", err)
	for _, r := range responses {
		fmt.Printf("%q from %s\n", r.Message, names[slices.Index(ids, r.Member.UniqueID)])
	}
	// Output:
	// error: <nil>
	// "B greets A" from B
}
