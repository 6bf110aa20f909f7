package cloud

import (
	"context"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/dnsmasq"
	"github.com/gotribes/tribes/internal/testutil"
)

// TestSenderEventLeavesTheReceivePath: with the DNS provider, a message from a sender
// the name does not list made the sender a member and then ran the membership listener's
// MemberAdded on the goroutine delivering that message, waiting for it, so a slow
// listener held the transport's receive of that connection, and a listener that waited
// for the sender's next message (sent on the same connection, after the first one's
// delivery) waited until its own deadline. The sender is still a member before the
// message's delivery returns (the next message passes the sender check), but its event
// now goes up on a goroutine of the service: the next message reaches the message
// listeners while MemberAdded still runs, so messages that follow a sender's first may
// overtake its event; the events keep their order (the member added, then gone at Stop).
func TestSenderEventLeavesTheReceivePath(t *testing.T) {
	d := dnsmasq.Start(t, "127.0.0.1 tomcat-members\n")
	svc, err := New(Config{Provider: ProviderDNS, LookupEnv: NoEnv, LocalIP: "127.0.0.1",
		DNS: DNSConfig{ServiceName: "tomcat-members", Resolver: d.Resolver()}})
	if err != nil {
		t.Fatal(err)
	}
	nw := channeltest.NewNetwork()
	nb := nw.NewNode()
	chB, err := channel.New(channel.Config{Transport: nb.Transport(), Membership: svc, HeartbeatInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 4)
	chB.AddMessageListener(channel.MessageListenerFunc(func(m *channel.Message) error {
		got <- string(m.Data)
		return nil
	}))
	rec := &recorder{}
	entered := make(chan struct{})
	during := make(chan string, 1) // what reached the message listener while MemberAdded ran
	chB.AddMembershipListener(channel.MembershipFuncs{
		Added: func(m channel.Member) {
			rec.MemberAdded(m)
			close(entered) // only the sender is ever added
			select {
			case s := <-got:
				during <- s
			case <-time.After(testutil.WaitLimit):
				during <- ""
			}
		},
		Disappeared: rec.MemberDisappeared,
	})
	if err := chB.Start(context.Background(), channel.SvcAll); err != nil {
		t.Fatal(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			_ = chB.Stop(context.Background(), channel.SvcAll)
		}
	}()
	na := nw.NewNode()
	chA, err := channel.New(channel.Config{Transport: na.Transport(), Membership: na.Membership(), HeartbeatInterval: -1,
		UniqueID: AddressUniqueID(netip.MustParseAddr("127.0.0.1"))}) // the id B derives for it
	if err != nil {
		t.Fatal(err)
	}
	channeltest.Start(t, chA)

	// A's two messages, one after the other, as on one connection.
	to := []channel.Member{chB.LocalMember()}
	sent := make(chan time.Duration, 1)
	go func() {
		start := time.Now()
		_ = chA.Send(context.Background(), to, []byte("first"), 0) // dropped: A was no member
		_ = chA.Send(context.Background(), to, []byte("second"), 0)
		sent <- time.Since(start)
	}()
	select {
	case <-entered:
	case <-time.After(testutil.WaitLimit):
		t.Fatal("MemberAdded of the unlisted sender not called")
	}
	select {
	case s := <-during:
		if s != "second" {
			t.Fatalf("the membership listener of the new sender waited for its next message and got %q: "+
				"the message's delivery was held by the listener", s)
		}
	case <-time.After(2 * testutil.WaitLimit):
		t.Fatal("MemberAdded did not return")
	}
	<-sent
	if err := chB.Stop(context.Background(), channel.SvcAll); err != nil {
		t.Fatal(err)
	}
	stopped = true
	a := newMember(netip.MustParseAddr("127.0.0.1"), chA.LocalMember().Port, AddressUniqueID(netip.MustParseAddr("127.0.0.1")), -1)
	if ev, want := rec.get(), []string{"+" + a.String(), "-" + a.String()}; !slices.Equal(ev, want) {
		t.Fatalf("events %v, want %v: the sender added, then gone at Stop", ev, want)
	}
}

// TestSenderEventListenerPanicIsLogged: the event of a sender that became a member goes
// up on a goroutine of the service (TestSenderEventLeavesTheReceivePath), where a
// listener's panic would end the process (on the receive path, transport/nio reports it as
// a delivery error). It is logged instead, and the events after it still go up, in order.
func TestSenderEventListenerPanicIsLogged(t *testing.T) {
	d := dnsmasq.Start(t, "127.0.0.1 tomcat-members\n")
	var log lockedBuffer
	s, err := New(Config{Provider: ProviderDNS, LookupEnv: NoEnv, LocalIP: "127.0.0.1",
		DNS:    DNSConfig{ServiceName: "tomcat-members", Resolver: d.Resolver()},
		Logger: slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelError}))})
	if err != nil {
		t.Fatal(err)
	}
	bad, good := localMember("10.1.2.3", 4000, [16]byte{3}), localMember("10.1.2.4", 4000, [16]byte{4})
	rec := &recorder{}
	l := channel.MembershipFuncs{
		Added: func(m channel.Member) {
			if m.IP() == bad.IP() {
				panic("listener failure")
			}
			rec.MemberAdded(m)
		},
		Disappeared: rec.MemberDisappeared,
	}
	if err := s.Start(context.Background(), channel.SvcMembership, localMember("127.0.0.1", 4000, [16]byte{1}), l); err != nil {
		t.Fatal(err)
	}
	senderWatcher{s}.AcceptNonMember(&channel.Message{Source: bad})
	senderWatcher{s}.AcceptNonMember(&channel.Message{Source: good})
	testutil.EventuallyTrue(t, testutil.WaitLimit, "the second sender's event goes up", func() bool { return len(rec.get()) == 1 })
	if err := s.Stop(context.Background(), channel.SvcMembership); err != nil {
		t.Fatal(err)
	}
	ev := rec.get()
	if len(ev) != 3 || !strings.HasPrefix(ev[0], "+10.1.2.4:") || ev[1][0] != '-' || ev[2][0] != '-' {
		t.Fatalf("events %v: the second sender added, then both gone", ev)
	}
	if !strings.Contains(logText(&log), "listener failure") {
		t.Errorf("the panic was not logged: %q", logText(&log))
	}
}

func logText(l *lockedBuffer) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestSenderEventPanicIsLoggedOnAnyGoroutine: the event of a sender that became a member
// goes up in order with the service's other events, so while a heartbeat delivers its own
// events (here held in the listener) the sender's goes up on the heartbeat's goroutine,
// after them. A listener's panic in it was logged only on the service's goroutine: on the
// heartbeat's it came out of Heartbeat (the channel's heartbeat goroutine: the process
// ended), and the events queued after it waited for the next change. It is now logged
// whichever goroutine delivers it, and the events after it go up on that goroutine.
func TestSenderEventPanicIsLoggedOnAnyGoroutine(t *testing.T) {
	p := &listProvider{}
	var log lockedBuffer
	s, err := New(Config{Custom: p, LookupEnv: NoEnv, LocalIP: "10.0.0.1",
		Logger: slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelError}))})
	if err != nil {
		t.Fatal(err)
	}
	listed, bad := netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("10.0.0.3")
	entered, release := make(chan struct{}), make(chan struct{})
	rec := &recorder{}
	l := channel.MembershipFuncs{
		Added: func(m channel.Member) {
			switch m.IP() {
			case bad:
				panic("listener failure")
			case listed:
				close(entered)
				<-release
			}
			rec.MemberAdded(m)
		},
		Disappeared: rec.MemberDisappeared,
	}
	released := false
	defer func() {
		if !released {
			close(release)
		}
	}()
	if err := s.Start(context.Background(), channel.SvcMembership, localMember("10.0.0.1", 4000, [16]byte{1}), l); err != nil {
		t.Fatal(err)
	}
	defer s.Stop(context.Background(), channel.SvcMembership)
	p.insts.Store(&[]Instance{{IP: listed.String(), UniqueID: [16]byte{2}}})
	beat := make(chan any, 1)
	go func() { // the heartbeat's listing holds the listener on this goroutine
		defer func() { beat <- recover() }()
		s.Heartbeat()
	}()
	select {
	case <-entered:
	case <-time.After(testutil.WaitLimit):
		t.Fatal("MemberAdded of the listed member not called")
	}
	senderWatcher{s}.AcceptNonMember(&channel.Message{Source: localMember(bad.String(), 4000, [16]byte{3})})
	senderWatcher{s}.AcceptNonMember(&channel.Message{Source: localMember("10.0.0.4", 4000, [16]byte{4})})
	released = true
	close(release)
	select {
	case p := <-beat:
		if p != nil {
			t.Fatalf("the panic of the sender's listener came out of the heartbeat delivering its event: %v", p)
		}
	case <-time.After(testutil.WaitLimit):
		t.Fatal("Heartbeat did not return")
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "the listed member's and the second sender's events go up", func() bool {
		return len(rec.get()) == 2
	})
	if ev := rec.get(); !strings.HasPrefix(ev[0], "+10.0.0.2:") || !strings.HasPrefix(ev[1], "+10.0.0.4:") {
		t.Fatalf("events %v: the listed member added, then the second sender", ev)
	}
	if !strings.Contains(logText(&log), "listener failure") {
		t.Errorf("the panic was not logged: %q", logText(&log))
	}
	if err := s.Stop(context.Background(), channel.SvcMembership); err != nil {
		t.Fatal(err)
	}
	if ev := rec.get(); len(ev) != 5 || ev[2][0] != '-' || ev[3][0] != '-' || ev[4][0] != '-' {
		t.Fatalf("events %v: the three members gone at Stop after the two added", ev)
	}
}
