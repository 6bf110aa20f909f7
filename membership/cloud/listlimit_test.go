package cloud

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/dnsmasq"
)

// TestDNSAnswerBeyondMaxMembers: the DNS provider has no count of its own: an answer is
// at most one DNS message (64 KiB), which the resolver parses, and the members it lists
// beyond MaxMembers are ignored and counted, as a pod list's are. A name that resolves to
// many more addresses than MaxMembers gives MaxMembers members, the rest counted at each
// listing.
func TestDNSAnswerBeyondMaxMembers(t *testing.T) {
	const n, maxMembers = 600, 16
	var hosts strings.Builder
	hosts.WriteString("127.0.0.1 tomcat-members\n")
	for i := range n {
		fmt.Fprintf(&hosts, "10.1.%d.%d tomcat-members\n", i/250, 1+i%250)
	}
	d := dnsmasq.Start(t, hosts.String())
	s, err := New(Config{Provider: ProviderDNS, LookupEnv: NoEnv, LocalIP: "127.0.0.1", MaxMembers: maxMembers,
		DNS: DNSConfig{ServiceName: "tomcat-members", Resolver: d.Resolver()}})
	if err != nil {
		t.Fatal(err)
	}
	insts, err := s.Provider().Fetch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(insts) <= 2*maxMembers {
		t.Fatalf("the name resolves to %d addresses, want more than %d", len(insts), 2*maxMembers)
	}
	rec := &recorder{}
	if err := s.Start(context.Background(), channel.SvcMembership, localMember("127.0.0.1", 4000, AddressUniqueID(netip.MustParseAddr("127.0.0.1"))), rec); err != nil {
		t.Fatal(err)
	}
	defer s.Stop(context.Background(), channel.SvcMembership)
	if got := len(s.Members()); got != maxMembers {
		t.Errorf("%d members, want MaxMembers (%d)", got, maxMembers)
	}
	if got := len(rec.get()); got != maxMembers {
		t.Errorf("%d MemberAdded, want %d", got, maxMembers)
	}
	// At least the addresses but the local one beyond MaxMembers (an answer may list
	// other addresses than the one fetched above, not more of them).
	if got := s.Stats().MembersOverLimit; got < uint64(len(insts)-1-maxMembers) || got > uint64(len(insts)-maxMembers) {
		t.Errorf("MembersOverLimit %d after one listing of about %d addresses, want the %d beyond MaxMembers",
			got, len(insts), len(insts)-1-maxMembers)
	}
}
