package channel_test

import (
	"net"
	"testing"

	"github.com/gotribes/tribes/channel"
)

func TestListedAs(t *testing.T) {
	host := net.IPv4(127, 0, 0, 1).To4()
	withID := channel.Member{Host: host, Port: 4000, UniqueID: channel.UniqueID{1}}
	other := channel.Member{Host: host, Port: 4000, UniqueID: channel.UniqueID{2}}
	byAddr := channel.Member{Host: host, Port: 4001}
	atAddr := channel.Member{Host: host, Port: 4001, UniqueID: channel.UniqueID{3}}
	otherPort := channel.Member{Host: host, Port: 4002, UniqueID: channel.UniqueID{3}}
	listed := map[channel.MemberKey]channel.Member{withID.Key(): withID, byAddr.Key(): byAddr}
	lookup := func(k channel.MemberKey) (channel.Member, bool) { m, ok := listed[k]; return m, ok }

	for _, tc := range []struct {
		name string
		src  channel.Member
		want channel.Member
		ok   bool
	}{
		{"listed under its key", withID, withID, true},
		{"another id at a listed member's address", other, channel.Member{}, false},
		{"a node at an address listed without an id", atAddr, byAddr, true},
		{"the address-only record itself", byAddr, byAddr, true},
		{"an address nobody lists", otherPort, channel.Member{}, false},
		{"no id at an unlisted address", channel.Member{Host: host, Port: 4002}, channel.Member{}, false},
	} {
		got, ok := channel.ListedAs(lookup, tc.src)
		if ok != tc.ok || got.Key() != tc.want.Key() {
			t.Errorf("%s: ListedAs = %v, %v; want %v, %v", tc.name, got, ok, tc.want, tc.ok)
		}
	}
}
