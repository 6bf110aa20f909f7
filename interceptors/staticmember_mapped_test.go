package interceptors

import (
	"net"
	"testing"

	"github.com/gotribes/tribes/channel"
)

// TestStaticMembershipIPv4HostInEitherForm: a member added with its IPv4 host in the
// 16-byte form (net.IPv4) is listed in the 4-byte form its messages carry, so the
// channel's member check finds it; the same member added in both forms is one member,
// and either form's key finds and removes it.
func TestStaticMembershipIPv4HostInEitherForm(t *testing.T) {
	id := channel.UniqueID{7, 7, 7}
	four := channel.Member{Host: []byte{127, 0, 0, 1}, Port: 4100, UniqueID: id, SecurePort: -1, UDPPort: -1}
	sixteen := four
	sixteen.Host = net.IPv4(127, 0, 0, 1)
	for _, removeBy := range []channel.Member{four, sixteen} {
		s, err := NewStaticMembership(StaticMembershipConfig{Members: []channel.Member{sixteen}})
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := s.configured(four.Key()); !ok {
			t.Fatal("a member given with a 16-byte IPv4 host is not found by the key its messages carry")
		}
		if _, ok := s.Member(sixteen.Key()); !ok {
			t.Fatal("Member does not find it by the 16-byte key")
		}
		s.AddStaticMember(four)
		if n := len(s.StaticMembers()); n != 1 {
			t.Fatalf("the member added in both forms is %d members", n)
		}
		s.RemoveStaticMember(removeBy.Key())
		if n := len(s.StaticMembers()); n != 0 {
			t.Fatalf("RemoveStaticMember with the %d-byte key left %d members", len(removeBy.Host), n)
		}
		if _, ok := s.configured(four.Key()); ok {
			t.Fatalf("RemoveStaticMember with the %d-byte key left the member found", len(removeBy.Host))
		}
	}
}
