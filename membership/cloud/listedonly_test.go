package cloud

import (
	"context"
	"errors"
	"net/netip"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/dnsmasq"
)

// TestDNSListedOnlyIgnoresUnlistedSenders: with the DNS provider, a message from a
// sender the name does not resolve to makes that sender a member (Tomcat's
// DNSMembershipProvider.accept, for DNS caches lagging behind new nodes): anyone who
// reaches the receiver port with the id the node derives from an address (an MD5 digest
// of it) passes every member check after its first message, the session managers', the
// maps' and the farm deployer's included. DNSConfig.ListedOnly keeps the members to the
// addresses the name resolves to: the sender stays a non-member and each of its messages
// is refused.
func TestDNSListedOnlyIgnoresUnlistedSenders(t *testing.T) {
	d := dnsmasq.Start(t, "127.0.0.1 tomcat-members\n")
	for _, tc := range []struct {
		listedOnly bool
		delivered  int // of the two messages
	}{{false, 1}, {true, 0}} {
		svc, err := New(Config{Provider: ProviderDNS, LookupEnv: NoEnv, LocalIP: "127.0.0.1",
			DNS: DNSConfig{ServiceName: "tomcat-members", Resolver: d.Resolver(), ListedOnly: tc.listedOnly}})
		if err != nil {
			t.Fatal(err)
		}
		nw := channeltest.NewNetwork()
		chB, err := channel.New(channel.Config{Transport: nw.NewNode().Transport(), Membership: svc, HeartbeatInterval: -1})
		if err != nil {
			t.Fatal(err)
		}
		got := make(chan string, 2)
		chB.AddMessageListener(channel.MessageListenerFunc(func(m *channel.Message) error {
			got <- string(m.Data)
			return nil
		}))
		channeltest.Start(t, chB)
		na := nw.NewNode()
		chA, err := channel.New(channel.Config{Transport: na.Transport(), Membership: na.Membership(), HeartbeatInterval: -1,
			UniqueID: AddressUniqueID(netip.MustParseAddr("127.0.0.1"))}) // the id B derives for it
		if err != nil {
			t.Fatal(err)
		}
		channeltest.Start(t, chA)
		to := []channel.Member{chB.LocalMember()}
		errs := 0
		for _, data := range []string{"first", "second"} {
			if err := chA.Send(context.Background(), to, []byte(data), channel.OptUseAck|channel.OptSyncAck); err != nil {
				if !errors.Is(err, channel.ErrAckFailed) {
					t.Fatalf("ListedOnly %v: %s: %v, want a FAIL_ACK or nothing", tc.listedOnly, data, err)
				}
				errs++
			}
		}
		_, member := chB.Member(chA.LocalMember().Key())
		if len(got) != tc.delivered || errs != 2-tc.delivered || member != !tc.listedOnly {
			t.Errorf("ListedOnly %v: %d of the unlisted sender's messages delivered, %d refused, member %v; want %d delivered",
				tc.listedOnly, len(got), errs, member, tc.delivered)
		}
		if n := chB.Stats().NonMemberDropped; n != uint64(2-tc.delivered) {
			t.Errorf("ListedOnly %v: the channel dropped %d messages of a non-member, want %d", tc.listedOnly, n, 2-tc.delivered)
		}
	}
}
