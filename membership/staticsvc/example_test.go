package staticsvc_test

import (
	"fmt"

	"github.com/gotribes/tribes/membership/staticsvc"
	tribesnode "github.com/gotribes/tribes/node"
	"github.com/gotribes/tribes/wire"
)

// A node of a Tomcat cluster whose <Cluster> uses the default channel name and a
// StaticMembershipService listing 10.0.0.1:4000 and 10.0.0.2:4000: the same members, the
// local one included. The node package builds the service (staticsvc.New) from
// StaticProtocol and StaticMembers and makes it the channel's membership.
func Example() {
	members, err := wire.ParseMemberList("10.0.0.1:4000:000102030405060708090a0b0c0d0e0f,10.0.0.2:4000:101112131415161718191a1b1c1d1e1f")
	if err != nil {
		panic(err)
	}
	ch, err := tribesnode.New(tribesnode.Config{StaticMembers: members, StaticProtocol: &staticsvc.Config{}})
	if err != nil {
		panic(err)
	}
	// ch.Start(ctx, channel.SvcAll) would announce the node to the reachable members.
	svc := ch.Membership().(*staticsvc.Service)
	fmt.Println(string(svc.MembershipID()))
	// Output: Catalina-Channel-StaticMembership
}
