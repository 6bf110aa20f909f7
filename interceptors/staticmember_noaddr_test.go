package interceptors

import (
	"errors"
	"strings"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
)

// TestStaticMembershipRefusesAMemberWithoutAddress: listing another channel's LocalMember
// before that channel started (no host, port 0) was accepted, and the interceptor then
// announced a member "invalid IP:0" that no message could reach; node.Config.StaticMembers
// already refused it. NewStaticMembership now refuses it too, with an error wrapping
// channel.ErrInvalidConfig that says to start the channel first; a member with an address
// and no unique id is still accepted.
func TestStaticMembershipRefusesAMemberWithoutAddress(t *testing.T) {
	nw := channeltest.NewNetwork()
	n := nw.NewNode()
	ch, err := channel.New(channel.Config{Transport: n.Transport(), Membership: n.Membership(), HeartbeatInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	host := []byte{127, 0, 0, 1}
	for name, m := range map[string]channel.Member{
		"unstarted LocalMember": ch.LocalMember(),
		"no port":               {Host: host},
		"no host":               {Port: 4000},
	} {
		_, err := NewStaticMembership(StaticMembershipConfig{Members: []channel.Member{{Host: host, Port: 4001}, m}})
		if !errors.Is(err, channel.ErrInvalidConfig) {
			t.Errorf("%s: err = %v, want ErrInvalidConfig", name, err)
			continue
		}
		for _, want := range []string{"member 1", "Host and Port", "start it first"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: %q does not say %q", name, err, want)
			}
		}
	}
	if _, err := NewStaticMembership(StaticMembershipConfig{Members: []channel.Member{{Host: host, Port: 4001}}}); err != nil {
		t.Errorf("a member with host and port but no unique id: %v", err)
	}
}
