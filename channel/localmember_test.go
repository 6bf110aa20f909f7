package channel_test

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/wire"
)

// capturingTransport records the last message handed to Send.
type capturingTransport struct {
	channel.Transport
	mu   sync.Mutex
	last *channel.Message
}

func (c *capturingTransport) Send(ctx context.Context, to []channel.Member, msg *channel.Message) error {
	c.mu.Lock()
	c.last = msg
	c.mu.Unlock()
	return c.Transport.Send(ctx, to, msg)
}

// TestSetPayloadOversized: New refuses a payload that makes the local member
// larger than wire.MaxMemberSize (ErrInvalidConfig), and so does SetPayload, which keeps
// the member as it was. It used to take the payload silently: from then on every message
// the channel sent carried a source member that no Go receiver decodes
// (wire.ParseChannelData refuses an address over MaxMemberSize), and nothing told the
// caller why.
func TestSetPayloadOversized(t *testing.T) {
	big := bytes.Repeat([]byte{'p'}, wire.MaxMemberSize)
	nw := channeltest.NewNetwork()
	n := nw.NewNode()
	if _, err := channel.New(channel.Config{Transport: n.Transport(), Membership: n.Membership(), Payload: big}); !errors.Is(err, channel.ErrInvalidConfig) {
		t.Fatalf("New with a %d-byte payload = %v, want ErrInvalidConfig", len(big), err)
	}

	nw.StartChannel(t) // a member to send to
	tr := &capturingTransport{Transport: n.Transport()}
	ch, err := channel.New(channel.Config{Transport: tr, Membership: n.Membership(), HeartbeatInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	channeltest.Start(t, ch)
	if err := ch.SetPayload(big); !errors.Is(err, channel.ErrInvalidConfig) || !errors.Is(err, wire.ErrBadMember) {
		t.Errorf("SetPayload(%d bytes) = %v, want ErrInvalidConfig and wire.ErrBadMember", len(big), err)
	}
	if err := ch.SetDomain(big); !errors.Is(err, channel.ErrInvalidConfig) {
		t.Errorf("SetDomain(%d bytes) = %v, want ErrInvalidConfig", len(big), err)
	}
	if got := ch.LocalMember(); len(got.Payload) != 0 || len(got.Domain) != 0 {
		t.Errorf("after refused updates the local member has a %d-byte payload and a %d-byte domain, want both unchanged (empty)",
			len(got.Payload), len(got.Domain))
	}
	if err := ch.Send(context.Background(), nil, []byte("x"), 0); err != nil {
		t.Fatalf("send: %v", err)
	}
	tr.mu.Lock()
	msg := tr.last
	tr.mu.Unlock()
	if msg == nil {
		t.Fatal("nothing sent")
	}
	body := wire.AppendChannelData(nil, uint32(msg.Options), msg.Timestamp, msg.ID, msg.SourceBytes, msg.Data)
	if _, err := wire.ParseChannelData(body, nil); err != nil {
		t.Fatalf("after SetPayload(%d bytes), which New refuses, the channel sends messages a Go receiver refuses: %v",
			len(big), err)
	}
}

// advertisingMembership is a MembershipService over channeltest's that records the local
// member it advertises: the one Start gives it and every LocalMemberUpdater update.
type advertisingMembership struct {
	channel.MembershipService
	mu    sync.Mutex
	local channel.Member
}

func (a *advertisingMembership) Start(ctx context.Context, svc channel.Service, local channel.Member, l channel.MembershipListener) error {
	a.mu.Lock()
	a.local = local
	a.mu.Unlock()
	return a.MembershipService.Start(ctx, svc, local, l)
}

func (a *advertisingMembership) UpdateLocalMember(m channel.Member) {
	a.mu.Lock()
	a.local = m
	a.mu.Unlock()
}

func (a *advertisingMembership) advertised() channel.Member {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.local
}

// movingTransport is channeltest's transport whose receiver gets a new port each time it
// starts, as transport/nio with an ephemeral port (Port 0) or autoBind finding the first
// port taken.
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

// TestReceiverRestartAdvertisesNewAddress: restarting the receiver level alone (Stop and
// Start with SvcReceiver, Tomcat's SND_RX_SEQ) while the membership levels keep running
// moves the channel's local member to the receiver's new address, and the membership
// service (a LocalMemberUpdater) is told, as Tomcat's ChannelCoordinator.internalStart
// hands the receiver's host and ports to the membership service every time it starts the
// receiver (membershipService.setLocalMemberProperties). It used to be told only of
// SetPayload and SetDomain: it kept advertising the old port, so the other members sent
// to a port nobody listens on.
func TestReceiverRestartAdvertisesNewAddress(t *testing.T) {
	n := channeltest.NewNetwork().NewNode()
	tr := &movingTransport{Transport: n.Transport(), port: 5000}
	mb := &advertisingMembership{MembershipService: n.Membership()}
	ch, err := channel.New(channel.Config{Transport: tr, Membership: mb, HeartbeatInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	channeltest.Start(t, ch)
	if got, want := mb.advertised().Port, ch.LocalMember().Port; got != want {
		t.Fatalf("after Start the membership advertises port %d, the channel's member has %d", got, want)
	}
	ctx := context.Background()
	if err := ch.Stop(ctx, channel.SvcReceiver); err != nil {
		t.Fatal(err)
	}
	if err := ch.Start(ctx, channel.SvcReceiver); err != nil {
		t.Fatal(err)
	}
	if got, want := mb.advertised().Port, ch.LocalMember().Port; got != want {
		t.Fatalf("after restarting the receiver the membership still advertises port %d; the receiver listens on %d", got, want)
	}
}

// TestStartAndSetPayloadBothKept: Start fills the receiver's address into the local
// member while SetPayload changes its payload on another goroutine; each applies its
// change to the member the other left, so the member has both.
func TestStartAndSetPayloadBothKept(t *testing.T) {
	n := channeltest.NewNetwork().NewNode()
	tr := &movingTransport{Transport: n.Transport(), port: 5000}
	ch, err := channel.New(channel.Config{Transport: tr, Membership: n.Membership(), HeartbeatInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := range 200 {
		want := []byte{byte(i), byte(i >> 8)}
		var wg sync.WaitGroup
		wg.Go(func() {
			if err := ch.SetPayload(want); err != nil {
				t.Error(err)
			}
		})
		if err := ch.Start(ctx, channel.SvcAll); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
		lm := ch.LocalMember()
		if !bytes.Equal(lm.Payload, want) || lm.Port != tr.LocalAddress().Port {
			t.Fatalf("iteration %d: local member has payload %x and port %d, want %x and %d",
				i, lm.Payload, lm.Port, want, tr.LocalAddress().Port)
		}
		if err := ch.Stop(ctx, channel.SvcAll); err != nil {
			t.Fatal(err)
		}
	}
}
