package static_test

import (
	"context"
	"net"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/membership/static"
)

// TestMemberGivenShortFoundByEitherKey: Member and Remove take the key of either form of
// an IPv4 host also for a member given in its 4-byte form (New or Add), as for one given
// in its 16-byte form. They took the 16-byte key only of members given in that form: the
// service remembered the keys it had converted, so a Remove with net.ParseIP's key of a
// member listed from its 4-byte host did nothing.
func TestMemberGivenShortFoundByEitherKey(t *testing.T) {
	ctx := context.Background()
	local := channel.Member{Host: []byte{127, 0, 0, 1}, Port: 4000, UniqueID: channel.UniqueID{1}}
	for _, viaAdd := range []bool{false, true} {
		short := channel.Member{Host: []byte{10, 0, 0, 7}, Port: 4001, UniqueID: channel.UniqueID{7}}
		long := channel.Member{Host: net.IP(short.Host).To16(), Port: short.Port, UniqueID: short.UniqueID}
		var svc *static.Service
		if viaAdd {
			svc = static.New()
		} else {
			svc = static.New(short)
		}
		if err := svc.Start(ctx, channel.SvcMembershipRx, local, nil); err != nil {
			t.Fatal(err)
		}
		if viaAdd {
			if err := svc.Add(context.Background(), short); err != nil {
				t.Fatal(err)
			}
		}
		if m, ok := svc.Member(long.Key()); !ok || !m.Equal(short) {
			t.Errorf("viaAdd %v: Member with the key of the 16-byte form: %v %v, want the member", viaAdd, m, ok)
		}
		if err := svc.Remove(context.Background(), long.Key()); err != nil {
			t.Fatal(err)
		}
		if ms := svc.Members(); len(ms) != 0 {
			t.Errorf("viaAdd %v: members after Remove with the key of the 16-byte form: %v", viaAdd, ms)
		}
		if err := svc.Stop(ctx, channel.SvcAll); err != nil {
			t.Fatal(err)
		}
	}
}
