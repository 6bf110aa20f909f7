package node_test

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/node"
	"github.com/gotribes/tribes/transport/nio"
)

// TestStaticMemberFromAnUnstartedChannel: a channel's LocalMember has no address before
// Start (Host empty, Port 0, printed "invalid IP:0"), as Channel.LocalMember's doc says,
// so a newcomer who lists it as another node's static member before starting the channel
// gets New's error, which now says that LocalMember has an address only once the channel
// started; it said only "has no address: it needs Host and Port". Once started, the same
// member is listed.
func TestStaticMemberFromAnUnstartedChannel(t *testing.T) {
	a, err := node.New(node.Config{Transport: &nio.Config{Address: "127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	m := a.LocalMember()
	if len(m.Host) != 0 || m.Port != 0 || m.Addr() != "invalid IP:0" {
		t.Fatalf("LocalMember before Start: host %v port %d (%s), want neither", m.Host, m.Port, m.Addr())
	}
	_, err = node.New(node.Config{StaticMembers: []channel.Member{m}})
	if !errors.Is(err, channel.ErrInvalidConfig) {
		t.Fatalf("New listing an unstarted channel's LocalMember: %v, want ErrInvalidConfig", err)
	}
	for _, want := range []string{"LocalMember", "start it first"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("New listing an unstarted channel's LocalMember: %q does not say %q", err, want)
		}
	}

	a = start(t, node.Config{Transport: &nio.Config{Address: "127.0.0.1"}})
	m = a.LocalMember()
	if m.IP() != netip.MustParseAddr("127.0.0.1") || m.Port <= 0 {
		t.Fatalf("LocalMember once started: %s, want 127.0.0.1 and the receiver's port", m.Addr())
	}
	if _, err := node.New(node.Config{StaticMembers: []channel.Member{m}}); err != nil {
		t.Fatalf("New listing a started channel's LocalMember: %v", err)
	}
}
