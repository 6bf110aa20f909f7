package staticsvc_test

import (
	"fmt"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/membership/staticsvc"
	"github.com/gotribes/tribes/transport/nio"
	"github.com/gotribes/tribes/wire"
)

// A node of a Tomcat cluster whose <Cluster> uses the default channel name and a
// StaticMembershipService listing 10.0.0.1:4000 and 10.0.0.2:4000: the same members, the
// local one included, and the service is the channel's membership.
func ExampleNew() {
	members, err := wire.ParseMemberList("10.0.0.1:4000:000102030405060708090a0b0c0d0e0f,10.0.0.2:4000:101112131415161718191a1b1c1d1e1f")
	if err != nil {
		panic(err)
	}
	svc, err := staticsvc.New(staticsvc.Config{Members: members})
	if err != nil {
		panic(err)
	}
	tr, err := nio.New(nio.DefaultConfig())
	if err != nil {
		panic(err)
	}
	ch, err := channel.New(channel.Config{Transport: tr, Membership: svc})
	if err != nil {
		panic(err)
	}
	// ch.Start(ctx, channel.SvcAll) would announce the node to the reachable members.
	fmt.Println(string(svc.MembershipID()), ch.Membership() == svc)
	// Output: Catalina-Channel-StaticMembership true
}
