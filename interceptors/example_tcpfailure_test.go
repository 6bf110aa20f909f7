package interceptors_test

import (
	"context"
	"fmt"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/interceptors"
	"github.com/gotribes/tribes/node"
	"github.com/gotribes/tribes/transport/nio"
)

// The stack "ping,tcpfailure" built with the constructors, on two nodes on loopback with
// static membership. B lists A; its failure detector passes A up only once a TCP check of
// A succeeded. A static membership never drops a member, so when A stops, B learns of it
// from the detector: the ping interceptor above it asks for a check of every member on each
// channel heartbeat (every 5 s); here Ping asks for one at once, which finds A gone.
func ExampleNewTCPFailureDetector() {
	ctx := context.Background()
	loopback := &nio.Config{Address: "127.0.0.1"} // ephemeral ports
	a, err := node.New(node.Config{Transport: loopback})
	if err != nil {
		panic(err)
	}
	if err := a.Start(ctx, channel.SvcAll); err != nil {
		panic(err)
	}

	fd, err := interceptors.NewTCPFailureDetector(interceptors.TCPFailureDetectorConfig{}) // Tomcat's defaults
	if err != nil {
		panic(err)
	}
	ping, err := interceptors.NewTCPPing(interceptors.TCPPingConfig{})
	if err != nil {
		panic(err)
	}
	b, err := node.New(node.Config{Transport: loopback, StaticMembers: []channel.Member{a.LocalMember()},
		Below: []channel.Interceptor{ping, fd}}) // ping above the detector
	if err != nil {
		panic(err)
	}
	events := make(chan string, 2)
	b.AddMembershipListener(channel.MembershipFuncs{
		Added:       func(m channel.Member) { events <- fmt.Sprintf("added, A: %v", m.Key() == a.LocalMember().Key()) },
		Disappeared: func(m channel.Member) { events <- fmt.Sprintf("gone, A: %v", m.Key() == a.LocalMember().Key()) },
	})
	if err := b.Start(ctx, channel.SvcAll); err != nil {
		panic(err)
	}
	defer b.Stop(ctx, channel.SvcAll)
	fmt.Println(<-events)

	if err := a.Stop(ctx, channel.SvcAll); err != nil {
		panic(err)
	}
	ping.Ping(ctx) // what the next heartbeat would do
	fmt.Println(<-events)
	fmt.Println("B's members:", len(b.Members()))
	// Output:
	// added, A: true
	// gone, A: true
	// B's members: 0
}
