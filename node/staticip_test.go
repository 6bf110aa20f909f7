package node_test

import (
	"context"
	"errors"
	"net"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/freeport"
	"github.com/gotribes/tribes/node"
	"github.com/gotribes/tribes/transport/nio"
)

// TestStaticMembersFromNetIP: static members built by hand with net.IPv4 or net.ParseIP,
// which return the 16-byte form of an IPv4 address, are the members whose messages
// arrive with 4-byte hosts (as Java writes them). Their messages were dropped as
// non-members' (a sync-ack sender saw FAIL_ACK), since member identity compares the host's
// bytes; New now lists them with the 4-byte host. A static member without an address is
// refused by New with ErrInvalidConfig, as staticsvc refuses it; it was listed and every
// send to all failed for it.
func TestStaticMembersFromNetIP(t *testing.T) {
	ctx := context.Background()
	ports, release, err := freeport.Pick(2, freeport.TCP, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	ids := []channel.UniqueID{{1}, {2}}
	hosts := []net.IP{net.IPv4(127, 0, 0, 1), net.ParseIP("127.0.0.1")}
	var chans []*channel.Channel
	got := make(chan string, 2)
	for i := range 2 {
		peer := channel.Member{Host: hosts[1-i], Port: int32(ports[1-i]), UniqueID: ids[1-i]}
		if len(peer.Host) != net.IPv6len {
			t.Fatalf("host %v is not in the 16-byte form", peer.Host)
		}
		ch := start(t, node.Config{Transport: &nio.Config{Address: "127.0.0.1", Port: ports[i], AutoBind: 1},
			UniqueID: ids[i], StaticMembers: []channel.Member{peer}})
		ch.AddMessageListener(channel.MessageListenerFunc(func(m *channel.Message) error {
			got <- string(m.Data)
			return nil
		}))
		chans = append(chans, ch)
	}
	for i, ch := range chans {
		if err := ch.Send(ctx, nil, []byte{'a' + byte(i)}, channel.OptUseAck|channel.OptSyncAck); err != nil {
			t.Fatalf("node %d sends to its static member listed with a 16-byte IPv4 host: %v", i, err)
		}
		<-got
	}

	for _, m := range []channel.Member{{}, {Host: net.IPv4(127, 0, 0, 1)}, {Port: 4000}} {
		if _, err := node.New(node.Config{StaticMembers: []channel.Member{m}}); !errors.Is(err, channel.ErrInvalidConfig) {
			t.Errorf("New with static member %s: %v, want ErrInvalidConfig", m, err)
		}
	}
}
