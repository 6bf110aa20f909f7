package cloud

import (
	"context"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/dnsmasq"
)

// TestReviewSenderAtLocalAddressIsNotAMember: with the DNS provider, a message whose
// source names this node's own address and port (with any id but the local one: a
// stranger, or a stale incarnation of this node) must not make this node a member of
// itself. MembershipService.Members is "never the local one", apply skips a listing at
// the local address for this reason, and Tomcat's Membership.memberAlive ignores a
// member equal to the local one (for IPv4 the id Tomcat derives for the sender is the
// local member's own id).
func TestReviewSenderAtLocalAddressIsNotAMember(t *testing.T) {
	d := dnsmasq.Start(t, "127.0.0.1 tomcat-members\n")
	cfg := Config{Provider: ProviderDNS, LookupEnv: NoEnv, LocalIP: "127.0.0.1",
		DNS: DNSConfig{ServiceName: "tomcat-members", Resolver: d.Resolver()}}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	id, err := s.LocalUniqueID(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	local := localMember("127.0.0.1", 4000, id)
	if err := s.Start(context.Background(), channel.SvcMembership, local, rec); err != nil {
		t.Fatal(err)
	}
	defer s.Stop(context.Background(), channel.SvcMembership)
	if n := len(s.Members()); n != 0 {
		t.Fatalf("%d members before the message, want 0", n)
	}

	// A message claiming to come from this node's address and port, with another id.
	forged := localMember("127.0.0.1", 4000, [16]byte{0xee})
	senderWatcher{s}.AcceptNonMember(&channel.Message{Source: forged})

	for _, m := range s.Members() {
		if m.IP() == local.IP() && m.Port == local.Port {
			t.Errorf("Members() lists this node's own address: %v (local %v, same key: %v)", m, local, m.Key() == local.Key())
		}
	}
	if _, ok := s.Member(local.Key()); ok {
		t.Errorf("Member(local key) found: the node is a member of itself")
	}
	if ev := rec.get(); len(ev) != 0 {
		t.Errorf("events %v, want none", ev)
	}
}
