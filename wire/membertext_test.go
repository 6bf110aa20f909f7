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

// The member texts a user mistypes first get an error that names the part at fault and
// says what was wanted (a host name typo used to be reported as ParseAddr's
// "unable to parse IP", the lookup's own error dropped).
func TestMemberTextErrorsNameThePartAtFault(t *testing.T) {
	lookup := func(host string) ([]net.IP, error) {
		if host == "empty" {
			return nil, nil
		}
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	for in, want := range map[string]string{
		"localhst:4001:15ddf6a6977d4c619ac2137b358d5600": `bad host "localhst": not an IP address, and looking it up failed: lookup localhst: no such host`,
		"empty:4001": `bad host "empty": not an IP address, and looking it up failed: no addresses`,
		"127.0.0.1:99999:15ddf6a6977d4c619ac2137b358d5600": `bad port "99999": want a number from 0 to 65535`,
		"127.0.0.1:40o1": `bad port "40o1"`,
		"127.0.0.1:4001:15ddf6a6977d4c619ac2137b358d5600 127.0.0.1:4002:15ddf6a6977d4c619ac2137b358d5601": "separate members with commas",
	} {
		_, err := parseMemberList(in, lookup)
		if !errors.Is(err, ErrBadMemberText) || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want ErrBadMemberText saying %q", in, err, want)
		}
	}
	var dns *net.DNSError
	if _, err := parseMemberText("localhst:4001", lookup); !errors.As(err, &dns) {
		t.Errorf("the lookup's error is not wrapped: %v", err)
	}
	// Spaces inside a Tomcat-form id and around items stay accepted.
	if ms, err := parseMemberList(" 127.0.0.1:4102:{-64, 12,12,12,12,12,12,12,12,12,12,12,12,12,12,12} , 127.0.0.1:4103", lookup); err != nil || len(ms) != 2 {
		t.Errorf("spaced list: %v, %v", ms, err)
	}
}
