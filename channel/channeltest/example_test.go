package channeltest_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
)

// Three channels on an in-memory network; a partition makes a member disappear and its
// sends fail, healing brings it back.
func Example() {
	nw := channeltest.NewNetwork()
	ctx := context.Background()
	var nodes []*channeltest.Node
	var chans []*channel.Channel
	for range 3 {
		n := nw.NewNode()
		ch, _ := channel.New(channel.Config{Transport: n.Transport(), Membership: n.Membership()})
		_ = ch.Start(ctx, channel.SvcAll)
		defer ch.Stop(ctx, channel.SvcAll)
		nodes, chans = append(nodes, n), append(chans, ch)
	}
	fmt.Println("members of node 0:", len(chans[0].Members()))

	nw.Partition(nodes[0], nodes[2])
	fmt.Println("after partition:", len(chans[0].Members()))
	err := chans[0].Send(ctx, []channel.Member{nodes[2].Member()}, []byte("x"), channel.OptUseAck)
	fmt.Println("send across the partition fails:", errors.Is(err, channel.ErrConnect))

	nw.Heal(nodes[0], nodes[2])
	fmt.Println("after heal:", len(chans[0].Members()))
	// Output:
	// members of node 0: 2
	// after partition: 1
	// send across the partition fails: true
	// after heal: 2
}
