package static_test

import (
	"context"
	"net"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/membership/static"
)

// TestIPv4HostInEitherFormIsOneMember: a member whose IPv4 host is given in its 16-byte
// form (net.IPv4, net.ParseIP) is the member its messages name, which carry the 4-byte
// form: New and Add list it with the 4-byte host, so the node written both ways is one
// member, it is found by the key of its messages (Member and Remove take the key of
// either form), and its messages pass the channel's sender check. Before, the library kept the 16-byte host (only node.New converted it):
// the two forms were two members, and a node listed in the 16-byte form alone had its
// messages dropped as a non-member's.
func TestIPv4HostInEitherFormIsOneMember(t *testing.T) {
	nw := channeltest.NewNetwork()
	a, b := nw.NewNode(), nw.NewNode()
	chB, err := channel.New(channel.Config{Transport: b.Transport()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := chB.Start(ctx, channel.SvcTransport); err != nil {
		t.Fatal(err)
	}
	defer chB.Stop(ctx, channel.SvcAll)
	sender := chB.LocalMember()
	if len(sender.Host) != net.IPv4len {
		t.Fatalf("b's messages carry a %d-byte host", len(sender.Host))
	}
	long := channel.Member{Host: net.IP(sender.Host).To16(), Port: sender.Port, UniqueID: sender.UniqueID}
	short := channel.Member{Host: net.IP(sender.Host).To4(), Port: sender.Port, UniqueID: sender.UniqueID}

	if len(long.Host) != net.IPv6len {
		t.Fatalf("the test's member is not in the 16-byte form: %v", long.Host)
	}

	svc := static.New(long)
	ch, err := channel.New(channel.Config{Transport: a.Transport(), Membership: svc})
	if err != nil {
		t.Fatal(err)
	}
	recv := make(chan string, 1)
	ch.AddMessageListener(channel.MessageListenerFunc(func(m *channel.Message) error {
		recv <- string(m.Data)
		return nil
	}))
	if err := ch.Start(ctx, channel.SvcAll); err != nil {
		t.Fatal(err)
	}
	defer ch.Stop(ctx, channel.SvcAll)
	ms := svc.Members()
	if len(ms) != 1 || len(ms[0].Host) != net.IPv4len {
		t.Errorf("members %v: want the one member, with the 4-byte host its messages carry", ms)
	}
	if _, ok := ch.Member(sender.Key()); !ok {
		t.Errorf("the member is not found by the key of its messages (%s)", sender.String())
	}
	// The in-memory network delivers synchronously: the message is handled, or refused
	// with a FAIL_ACK, when Send returns.
	if err := chB.Send(ctx, []channel.Member{ch.LocalMember()}, []byte("hello"), channel.OptUseAck); err != nil {
		t.Errorf("b's message to a: %v", err)
	}
	if len(recv) != 1 {
		t.Errorf("b's message did not reach a's listener: dropped as a non-member's")
	}

	if err := svc.Add(context.Background(), short); err != nil { // the same node written with its 4-byte host
		t.Fatal(err)
	}
	if ms := svc.Members(); len(ms) != 1 {
		t.Errorf("%d members listed for one node added with a 4-byte host after its 16-byte one: %v", len(ms), ms)
	}
	if _, ok := svc.Member(long.Key()); !ok {
		t.Errorf("the member is not found by the key of its 16-byte form")
	}
	if err := svc.Remove(context.Background(), long.Key()); err != nil {
		t.Fatal(err)
	}
	if ms := svc.Members(); len(ms) != 0 {
		t.Errorf("members after Remove with the key of the 16-byte form: %v", ms)
	}
	both := static.New(long, short)
	if err := both.Start(ctx, channel.SvcMembershipRx, ch.LocalMember(), nil); err != nil {
		t.Fatal(err)
	}
	defer both.Stop(ctx, channel.SvcAll)
	if ms := both.Members(); len(ms) != 1 {
		t.Errorf("%d members listed for one node given to New with a 16-byte and a 4-byte host: %v", len(ms), ms)
	}
}
