package static_test

import (
	"context"
	"net"
	"strconv"
	"sync"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/membership/static"
	"github.com/gotribes/tribes/wire"
)

// movingTransport is channeltest's transport whose receiver gets the next port each time
// it starts, as transport/nio on an ephemeral port or autobinding past a taken one.
type movingTransport struct {
	channel.Transport
	mu   sync.Mutex
	port int32
}

func (m *movingTransport) Start(ctx context.Context, svc channel.Service, rx channel.ReceiveFunc) error {
	if svc&channel.SvcReceiver != 0 {
		m.mu.Lock()
		m.port++
		m.mu.Unlock()
	}
	return m.Transport.Start(ctx, svc, rx)
}

func (m *movingTransport) LocalAddress() channel.LocalAddress {
	a := m.Transport.LocalAddress()
	m.mu.Lock()
	a.Port = m.port
	m.mu.Unlock()
	return a
}

// TestReceiverRestartMovesLocalMember: when the channel's receiver restarts on another
// port while the membership runs, the static service learns the new local member
// (channel.LocalMemberUpdater, as membership/mcast and Tribes' setLocalMemberProperties):
// a member added at the receiver's new address is this node and is not announced, and one
// added at the address it left is another node and is. Before, the service kept the
// member Start gave it: the node listed itself as a member (and sent to itself) and could
// never list the node that took its old port.
func TestReceiverRestartMovesLocalMember(t *testing.T) {
	n := channeltest.NewNetwork().NewNode()
	tr := &movingTransport{Transport: n.Transport(), port: 5000}
	other, _ := wire.ParseMemberText("127.0.0.1:4999")
	svc := static.New(other)
	ch, err := channel.New(channel.Config{Transport: tr, Membership: svc, HeartbeatInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	channeltest.Start(t, ch)
	old := ch.LocalMember()
	ctx := context.Background()
	if err := ch.Stop(ctx, channel.SvcReceiver); err != nil {
		t.Fatal(err)
	}
	if err := ch.Start(ctx, channel.SvcReceiver); err != nil {
		t.Fatal(err)
	}
	moved := ch.LocalMember()
	if moved.Port == old.Port {
		t.Fatalf("the receiver did not move: port %d", moved.Port)
	}
	at := func(port int32) channel.Member {
		m, err := wire.ParseMemberText(net.JoinHostPort(moved.IP().String(), strconv.Itoa(int(port))))
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	self, left := at(moved.Port), at(old.Port)
	if err := svc.Add(context.Background(), self); err != nil {
		t.Fatal(err)
	}
	if err := svc.Add(context.Background(), left); err != nil {
		t.Fatal(err)
	}
	if _, ok := ch.Member(self.Key()); ok {
		t.Errorf("a member added at the receiver's new address %s is listed: the service still takes the local member for %s",
			self.Addr(), old.Addr())
	}
	if _, ok := ch.Member(left.Key()); !ok {
		t.Errorf("a member added at the address %s the receiver left is not listed: the service still takes it for the local member",
			left.Addr())
	}
}
