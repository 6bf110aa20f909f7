package wire

import (
	"bytes"
	"fmt"
	"testing"
)

// TestMemberKeyLongHost: MemberKey is documented as the member's identity "as
// Java's MemberImpl.equals" (host bytes, port, unique id), and a decoder accepts hosts of
// up to MaxHostLen (127) bytes. Key copies only the first 16 host bytes and records a
// length of at most 16, so two members whose hosts differ after byte 16 (or whose hosts
// are a 16-byte address and that address followed by more bytes) get the same key while
// Equal (and Java) tell them apart: a map keyed by MemberKey (a membership view, the
// channel's sender check) takes one for the other.
func TestMemberKeyLongHost(t *testing.T) {
	base := bytes.Repeat([]byte{10}, 16)
	for _, tc := range []struct {
		name   string
		h1, h2 []byte
	}{
		{"differ after byte 16", append(bytes.Clone(base), 1, 2, 3, 4), append(bytes.Clone(base), 9, 9, 9, 9)},
		{"16-byte host and a longer one", bytes.Clone(base), append(bytes.Clone(base), 1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var members []Member
			for _, h := range [][]byte{tc.h1, tc.h2} {
				m := Member{Port: 4000, SecurePort: -1, UDPPort: -1, Host: h, UniqueID: UniqueID{1, 2, 3}}
				b, err := m.MarshalBinary()
				if err != nil {
					t.Fatal(err)
				}
				got, _, err := ParseMember(b) // what a peer can send
				if err != nil {
					t.Fatal(err)
				}
				members = append(members, got)
			}
			a, b := members[0], members[1]
			if a.Equal(b) {
				t.Fatal("test setup: the members are equal")
			}
			if a.Key() == b.Key() {
				t.Fatalf("members with hosts %x and %x are different (Equal is false) but have the same MemberKey", a.Host, b.Host)
			}
		})
	}
}

// BenchmarkMemberKey is a member's key made and looked up in a map of 1024 members, as the
// sender check and the membership views do for every received message, for an IPv4, an
// IPv6 and a longer host.
func BenchmarkMemberKey(b *testing.B) {
	for _, hl := range []int{4, 16, 20} {
		b.Run(fmt.Sprintf("host=%d", hl), func(b *testing.B) {
			view := map[MemberKey]Member{}
			var m Member
			for i := range 1024 {
				m = Member{Port: 4000, Host: bytes.Repeat([]byte{byte(i)}, hl), UniqueID: UniqueID{byte(i), byte(i >> 8)}}
				view[m.Key()] = m
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, ok := view[m.Key()]; !ok {
					b.Fatal("not found")
				}
			}
		})
	}
}
