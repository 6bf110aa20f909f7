package interceptors_test

import (
	"context"
	"fmt"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/interceptors"
	"github.com/gotribes/tribes/node"
	"github.com/gotribes/tribes/transport/nio"
)

// The staticmember interceptor adds configured members to whatever the membership service
// finds (Tribes' StaticMembershipInterceptor), here to B's static membership, which lists
// no one. B announces A to its listeners when it starts and sends to it. (A real stack puts
// "ping,tcpfailure" above it, which checks A before announcing it. A, which does not list
// B, ignores B's start notice and takes B's messages only as a non-member's.)
func ExampleNewStaticMembership() {
	ctx := context.Background()
	loopback := &nio.Config{Address: "127.0.0.1"} // ephemeral ports
	// A runs the interceptor too, listing no one: it consumes B's start notice, which
	// would otherwise reach A's listeners as a message.
	smA, err := interceptors.NewStaticMembership(interceptors.StaticMembershipConfig{})
	if err != nil {
		panic(err)
	}
	a, err := node.New(node.Config{Transport: loopback, AcceptNonMembers: true, Below: []channel.Interceptor{smA}})
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

	sm, err := interceptors.NewStaticMembership(interceptors.StaticMembershipConfig{
		Members: []channel.Member{a.LocalMember()}, // Tomcat's <Member> elements
	})
	if err != nil {
		panic(err)
	}
	b, err := node.New(node.Config{Transport: loopback, Below: []channel.Interceptor{sm}})
	if err != nil {
		panic(err)
	}
	added := make(chan bool, 1)
	b.AddMembershipListener(channel.MembershipFuncs{
		Added: func(m channel.Member) { added <- m.Key() == a.LocalMember().Key() },
	})
	if err := b.Start(ctx, channel.SvcAll); err != nil {
		panic(err)
	}
	defer b.Stop(ctx, channel.SvcAll)
	fmt.Println("B: A added:", <-added)
	fmt.Println("B's members:", len(b.Members()), "static members:", len(sm.StaticMembers()))
	if err := b.Send(ctx, b.Members(), []byte("hello"), channel.OptUseAck); err != nil {
		panic(err)
	}
	fmt.Println("A received:", <-got)
	// Output:
	// B: A added: true
	// B's members: 1 static members: 1
	// A received: hello
}
