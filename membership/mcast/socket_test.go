package mcast_test

import (
	"bytes"
	"context"
	"fmt"
	"hash/fnv"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/testenv"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/membership/mcast"
	"github.com/gotribes/tribes/node"
	"github.com/gotribes/tribes/transport/nio"
	"github.com/gotribes/tribes/wire"
)

// localConfig is DefaultLocalConfig on a group and port of this test's own (derived from
// the test name and the process id), so that parallel test runs do not meet.
func localConfig(t *testing.T) mcast.Config {
	h := fnv.New32a()
	fmt.Fprintf(h, "%s/%d", t.Name(), os.Getpid())
	v := h.Sum32()
	c := mcast.DefaultLocalConfig()
	c.Address = fmt.Sprintf("228.%d.%d.%d", 100+v%100, (v>>8)%256, 1+(v>>16)%250)
	c.Port = 20000 + int(v>>3)%25000
	c.JoinWait = -1
	return c
}

func member(port int32, id byte) channel.Member {
	m := channel.Member{Host: []byte{127, 0, 0, 1}, Port: port, SecurePort: -1, UDPPort: -1}
	m.UniqueID[0], m.UniqueID[15] = id, 0x5a
	return m
}

type events struct {
	mu    sync.Mutex
	added map[int32]time.Time
	gone  map[int32]channel.Member
	msgs  chan *channel.Message
}

func newEvents() *events {
	return &events{added: map[int32]time.Time{}, gone: map[int32]channel.Member{}, msgs: make(chan *channel.Message, 16)}
}

func (e *events) MemberAdded(m channel.Member) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.added[m.Port] = time.Now()
}

func (e *events) MemberDisappeared(m channel.Member) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.gone[m.Port] = m
}

func (e *events) MessageReceived(msg *channel.Message) error {
	e.msgs <- msg
	return nil
}

func (e *events) addedAt(port int32) (time.Time, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	t, ok := e.added[port]
	return t, ok
}

func (e *events) goneMember(port int32) (channel.Member, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	m, ok := e.gone[port]
	return m, ok
}

func startService(t *testing.T, cfg mcast.Config, m channel.Member, l *events) *mcast.Service {
	t.Helper()
	s, err := mcast.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s.SetReceiveFunc(l.MessageReceived)
	if err := s.Start(context.Background(), channel.SvcMembership, m, l); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Stop(context.Background(), channel.SvcMembership) })
	return s
}

// TestLoopbackFastJoin: a newcomer announces itself at once and the group answers at
// once. The period is an hour, so the two can only see each other through those fast-join
// heartbeats; how long they took is logged, not asserted (the exact behaviour is checked
// in fake time by TestJoinIsImmediate).
func TestLoopbackFastJoin(t *testing.T) {
	cfg := localConfig(t)
	cfg.Frequency, cfg.DropTime = time.Hour, 2*time.Hour
	a := member(4001, 1)
	a.Domain, a.Payload = []byte("dom"), []byte{1, 2, 3}
	ea, eb := newEvents(), newEvents()
	startService(t, cfg, a, ea)
	time.Sleep(300 * time.Millisecond) // A's alive time, not a synchronisation
	start := time.Now()
	sb := startService(t, cfg, member(4002, 2), eb)
	testutil.EventuallyTrue(t, testutil.WaitLimit, "both see each other", func() bool {
		_, ok1 := ea.addedAt(4002)
		_, ok2 := eb.addedAt(4001)
		return ok1 && ok2
	})
	t1, _ := ea.addedAt(4002)
	t2, _ := eb.addedAt(4001)
	t.Logf("join: A saw B after %v, B saw A after %v", t1.Sub(start), t2.Sub(start))
	got, ok := sb.Member(a.Key())
	if !ok || string(got.Domain) != "dom" || !bytes.Equal(got.Payload, []byte{1, 2, 3}) || got.AliveTime < 250 {
		t.Fatalf("B's view of A: %+v", got)
	}
}

func TestLoopbackHeartbeatIsExactlyTheMember(t *testing.T) {
	cfg := localConfig(t)
	lo, err := net.InterfaceByName("lo")
	if err != nil {
		testenv.Missing(t, "no interface lo: %v", err)
	}
	g := &net.UDPAddr{IP: net.ParseIP(cfg.Address), Port: cfg.Port}
	sniff, err := net.ListenMulticastUDP("udp4", lo, g)
	if err != nil {
		t.Fatal(err)
	}
	defer sniff.Close()
	m := member(4003, 3)
	m.Payload = []byte("p")
	startService(t, cfg, m, newEvents())
	buf := make([]byte, 70000)
	_ = sniff.SetReadDeadline(time.Now().Add(3 * time.Second))
	n, from, err := sniff.ReadFromUDP(buf)
	if err != nil {
		t.Fatal(err)
	}
	got, used, err := wire.ParseMember(buf[:n])
	if err != nil || used != n || !got.Equal(m) || string(got.Payload) != "p" {
		t.Fatalf("datagram of %d bytes: member %v (%d bytes used), err %v", n, got, used, err)
	}
	if !from.IP.Equal(net.IPv4(127, 0, 0, 1)) || from.Port != cfg.Port {
		t.Fatalf("sent from %v, want 127.0.0.1:%d", from, cfg.Port)
	}
}

func TestLoopbackShutdownAndBroadcast(t *testing.T) {
	cfg := localConfig(t)
	// Nobody expires during the test: B can only drop A on its shutdown packet.
	cfg.DropTime = time.Minute
	ea, eb := newEvents(), newEvents()
	a := member(4004, 4)
	sa, err := mcast.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := sa.Start(context.Background(), channel.SvcMembership, a, ea); err != nil {
		t.Fatal(err)
	}
	startService(t, cfg, member(4005, 5), eb)
	testutil.EventuallyTrue(t, testutil.WaitLimit, "B sees A", func() bool { _, ok := eb.addedAt(4004); return ok })

	msg := &channel.Message{Options: channel.OptMulticast | channel.OptByteMessage, Timestamp: time.Now().UnixMilli(),
		ID: channel.NewMessageID(), Source: a, Data: bytes.Repeat([]byte("x"), 60000)}
	if err := sa.Broadcast(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-eb.msgs:
		if !bytes.Equal(got.Data, msg.Data) || !got.Source.Equal(a) || got.Options != msg.Options {
			t.Fatalf("broadcast arrived as %d bytes from %v options %v", len(got.Data), got.Source, got.Options)
		}
	case <-time.After(testutil.WaitLimit):
		t.Fatal("broadcast not received")
	}

	stopAt := time.Now()
	if err := sa.Stop(context.Background(), channel.SvcMembership); err != nil {
		t.Fatal(err)
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "B drops A", func() bool { _, ok := eb.goneMember(4004); return ok })
	gone, _ := eb.goneMember(4004)
	t.Logf("A gone at B %v after its Stop", time.Since(stopAt))
	if !gone.IsShutdown() {
		t.Fatalf("A gone with command %q, want the shutdown command", gone.Command)
	}
}

// TestChannelOverMulticast runs two channels (TCP transport + multicast membership): they
// find each other, the payload set on a running channel reaches the other, and an
// OptMulticast send arrives through the membership service's receive path.
func TestChannelOverMulticast(t *testing.T) {
	cfg := localConfig(t)
	mk := func() (*channel.Channel, *events) {
		tcfg := nio.DefaultConfig()
		tcfg.Port = 0
		ch, err := node.New(node.Config{Transport: &tcfg, Multicast: &cfg, Domain: []byte("d")})
		if err != nil {
			t.Fatal(err)
		}
		ev := newEvents()
		ch.AddMembershipListener(ev)
		ch.AddMessageListener(channel.MessageListenerFunc(ev.MessageReceived))
		if err := ch.Start(context.Background(), channel.SvcAll); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = ch.Stop(context.Background(), channel.SvcAll) })
		return ch, ev
	}
	a, _ := mk()
	b, eb := mk()
	testutil.EventuallyTrue(t, testutil.WaitLimit, "members", func() bool { return len(a.Members()) == 1 && len(b.Members()) == 1 })
	if err := a.SetPayload([]byte("new")); err != nil {
		t.Fatal(err)
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "payload update", func() bool {
		m, ok := b.Member(a.LocalMember().Key())
		return ok && string(m.Payload) == "new" && string(m.Domain) == "d"
	})
	if err := a.Send(context.Background(), nil, []byte("to all"), channel.OptMulticast); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-eb.msgs:
		if string(got.Data) != "to all" || !got.Source.Equal(a.LocalMember()) {
			t.Fatalf("got %q from %v", got.Data, got.Source)
		}
	case <-time.After(testutil.WaitLimit):
		t.Fatal("multicast message not delivered")
	}
	big := make([]byte, 70000)
	if err := a.Send(context.Background(), nil, big, channel.OptMulticast); err == nil {
		t.Fatal("70000-byte multicast accepted")
	}
}

// TestLoopbackReceiverRestart: the receiver level is stopped while the sender keeps the
// socket, and started again: Stop returns without waiting for a receive deadline (the
// period is an hour, and no member is due), the members are reported gone, and the
// receiver started again on the same socket hears them again.
func TestLoopbackReceiverRestart(t *testing.T) {
	cfg := localConfig(t)
	cfg.Frequency, cfg.DropTime, cfg.NoStallGuard = 200*time.Millisecond, time.Hour, true
	cfg.SoTimeout = time.Hour
	ea, eb := newEvents(), newEvents()
	sa := startService(t, cfg, member(4006, 6), ea)
	startService(t, cfg, member(4007, 7), eb)
	testutil.EventuallyTrue(t, testutil.WaitLimit, "A sees B", func() bool { _, ok := ea.addedAt(4007); return ok })
	for i := range 10 { // the interrupt may come at any point of the receive loop
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := sa.Stop(ctx, channel.SvcMembershipRx)
		cancel()
		if err != nil {
			t.Fatalf("stop %d of the receiver: %v", i, err)
		}
		if len(sa.Members()) != 0 {
			t.Fatalf("members after the receiver stopped: %v", sa.Members())
		}
		if err := sa.Start(context.Background(), channel.SvcMembershipRx, member(4006, 6), ea); err != nil {
			t.Fatal(err)
		}
		testutil.EventuallyTrue(t, testutil.WaitLimit, "A hears B again", func() bool { _, ok := sa.Member(member(4007, 7).Key()); return ok })
	}
}
