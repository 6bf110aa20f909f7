package interceptors_test

import (
	"context"
	"fmt"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/interceptors"
)

// A domain filter keeps a channel to one cluster domain: A, in domain "blue", lists B
// (blue) but not C (green), and drops C's messages, counting them in Refused. As in
// Tribes, C is not told: even its synchronized-ack send succeeds.
func ExampleNewDomainFilter() {
	ctx := context.Background()
	nw := channeltest.NewNetwork()
	start := func(domain string, ics ...channel.Interceptor) *channel.Channel {
		n := nw.NewNode()
		ch, err := channel.New(channel.Config{Transport: n.Transport(), Membership: n.Membership(),
			Domain: []byte(domain), Interceptors: ics, HeartbeatInterval: -1})
		if err != nil {
			panic(err)
		}
		if err := ch.Start(ctx, channel.SvcAll); err != nil {
			panic(err)
		}
		return ch
	}
	// LocalDomain: the domain of A's own member, "blue" (or Domain: []byte("blue")).
	filter, err := interceptors.NewDomainFilter(interceptors.DomainFilterConfig{LocalDomain: true})
	if err != nil {
		panic(err)
	}
	a := start("blue", filter)
	b, c := start("blue"), start("green")
	for _, ch := range []*channel.Channel{a, b, c} {
		defer ch.Stop(ctx, channel.SvcAll)
	}
	a.AddMessageListener(channel.MessageListenerFunc(func(m *channel.Message) error {
		fmt.Printf("A received %q\n", m.Data)
		return nil
	}))
	fmt.Println("A's members:", len(a.Members()), "B's members:", len(b.Members()))

	_ = b.Send(ctx, []channel.Member{a.LocalMember()}, []byte("from blue"), channel.OptUseAck)
	err = c.Send(ctx, []channel.Member{a.LocalMember()}, []byte("from green"), channel.OptUseAck|channel.OptSyncAck)
	fmt.Println("C's send:", err)
	messages, members := filter.Refused()
	fmt.Println("refused:", messages, "message,", members, "member")
	// Output:
	// A's members: 1 B's members: 2
	// A received "from blue"
	// C's send: <nil>
	// refused: 1 message, 1 member
}
