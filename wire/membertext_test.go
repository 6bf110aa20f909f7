package wire

import (
	"errors"
	"net"
	"strings"
	"testing"
)

func TestParseMemberText(t *testing.T) {
	m, err := ParseMemberText("127.0.0.1:4000:15ddf6a6977d4c619ac2137b358d5600")
	if err != nil {
		t.Fatal(err)
	}
	if m.Addr() != "127.0.0.1:4000" || m.UniqueID.String() != "15ddf6a6977d4c619ac2137b358d5600" || len(m.Host) != 4 ||
		m.SecurePort != -1 || m.UDPPort != -1 {
		t.Fatalf("parsed %v", m.String())
	}
	if got := FormatMemberText(m); got != "127.0.0.1:4000:15ddf6a6977d4c619ac2137b358d5600" {
		t.Fatal(got)
	}
	v6, err := ParseMemberText("[::1]:4001")
	if err != nil || len(v6.Host) != 16 || v6.Port != 4001 || v6.UniqueID != (UniqueID{}) {
		t.Fatalf("ipv6: %v %v", v6.String(), err)
	}
	mapped, err := ParseMemberText("[::ffff:127.0.0.2]:4002")
	if err != nil || len(mapped.Host) != 4 || mapped.IP().String() != "127.0.0.2" {
		t.Fatalf("4-in-6: %v %v", mapped.String(), err)
	}
	list, err := ParseMemberList("127.0.0.1:1, 127.0.0.1:2:00000000000000000000000000000001,")
	if err != nil || len(list) != 2 || list[1].UniqueID[15] != 1 {
		t.Fatalf("list %v %v", list, err)
	}
	for _, bad := range []string{"nohost", "127.0.0.1:70000", "127.0.0.1:1:zz", "127.0.0.1:4000:0102"} {
		if _, err := ParseMemberText(bad); !errors.Is(err, ErrBadMemberText) {
			t.Errorf("%q: %v, want ErrBadMemberText", bad, err)
		}
	}
	if _, err := ParseMemberList(strings.Repeat("127.0.0.1:1,", MaxMemberListLen)); !errors.Is(err, ErrBadMemberText) {
		t.Errorf("over-long list: %v", err)
	}
}

func TestParseMemberTextLooksUpNames(t *testing.T) {
	lookup := func(host string) ([]net.IP, error) {
		if host == "node-a" {
			return []net.IP{net.IPv4(127, 0, 0, 7)}, nil
		}
		return nil, errors.New("no such host")
	}
	m, err := parseMemberText("node-a:4000", lookup)
	if err != nil || m.IP().String() != "127.0.0.7" || m.Port != 4000 {
		t.Fatalf("%v %v", m.String(), err)
	}
	if _, err := parseMemberText("node-b:4000", lookup); !errors.Is(err, ErrBadMemberText) {
		t.Fatalf("unknown host: %v", err)
	}
}

// The text decoder never panics and what it accepts formats back to itself (names are not
// looked up while fuzzing).
func FuzzParseMemberList(f *testing.F) {
	f.Add("127.0.0.1:4000:15ddf6a6977d4c619ac2137b358d5600,127.0.0.1:4001")
	f.Add("[::1]:4001, [::ffff:10.0.0.1]:1:00000000-0000-0000-0000-000000000001,")
	f.Add("host:1:zz")
	f.Add("127.0.0.1:4102:{-64,11,11,11,11,11,11,11,11,11,11,11,11,11,11,11},[::1]:1:{1,2},h:1:}{")
	noLookup := func(string) ([]net.IP, error) { return nil, errors.New("no lookups while fuzzing") }
	f.Fuzz(func(t *testing.T, in string) {
		ms, err := parseMemberList(in, noLookup)
		if err != nil {
			return
		}
		for _, m := range ms {
			back, err := parseMemberText(FormatMemberText(m), noLookup)
			if err != nil || !back.Equal(m) {
				t.Fatalf("%v does not round-trip: %v", m.String(), err)
			}
		}
	})
}
