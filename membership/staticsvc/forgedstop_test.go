package staticsvc

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/membership/static"
	"github.com/gotribes/tribes/wire"
)

// staticPair starts A and B on real nio transports on loopback, each listing both, with
// cfg (Members set here), and returns them once each lists the other.
func staticPair(t *testing.T, p []int, cfg Config) (a, b *channel.Channel, svcA *Service) {
	t.Helper()
	for _, port := range p[:2] {
		m, err := wire.ParseMemberText(fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			t.Fatal(err)
		}
		cfg.Members = append(cfg.Members, m)
	}
	svcA, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	svcB, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	a = startChannel(t, p[0], svcA)
	b = startChannel(t, p[1], svcB)
	if _, ok := a.Member(b.LocalMember().Key()); !ok {
		t.Fatalf("A does not list B after B's START: %v", a.Members())
	}
	return a, b, svcA
}

// goneCounter counts a channel's MemberDisappeared events for one member.
func goneCounter(ch *channel.Channel, m channel.Member) *atomic.Int64 {
	var n atomic.Int64
	k := m.Key()
	ch.AddMembershipListener(channel.MembershipFuncs{Disappeared: func(g channel.Member) {
		if g.Key() == k {
			n.Add(1)
		}
	}})
	return &n
}

// TestForgedStopDoesNotDropALiveMember: a stranger that reaches A's receiver port sends
// MSG_STOPs naming B, a live member (B's address and unique id are in every reply of B to
// a START or PING, which B sends anyone). Tomcat's provider drops the member it names at
// once; so did this service: A reported B gone and refused B's messages as a non-member's
// until B's next PING reply (every PingInterval), and a stranger repeating the STOP kept
// the two members apart. A now asks B first (a PING): B answers with its member, so the
// STOP is refuted (Stats.StopsRefuted), B stays listed, is never reported gone, and its
// messages reach A; a burst of STOPs is checked at most once per stopCheckGap.
func TestForgedStopDoesNotDropALiveMember(t *testing.T) {
	p := testutil.FreePorts(t, 3)
	a, b, svcA := staticPair(t, p, Config{ExpirationTime: time.Hour, PingInterval: time.Hour})
	bm := b.LocalMember()
	gone := goneCounter(a, bm)

	// The stranger: a channel on a port no static list names, whose membership lists A.
	x := startChannel(t, p[2], static.New(a.LocalMember()))
	forged := bm.Clone()
	forged.Command = wire.ShutdownCommand
	data, err := svcA.cls.marshal(memberMessage{typ: msgStop, member: forged, id: svcA.id})
	if err != nil {
		t.Fatal(err)
	}
	// Synchronized ACKs: each send returns once A has handled the STOP.
	stop := func() {
		t.Helper()
		msg := &channel.Message{Options: channel.OptUseAck | channel.OptSyncAck, Data: data}
		if err := x.SendMessage(context.Background(), []channel.Member{a.LocalMember()}, msg); err != nil {
			t.Fatalf("stranger's STOP: %v", err)
		}
	}

	stop()
	testutil.EventuallyTrue(t, testutil.WaitLimit, "the forged STOP refuted", func() bool {
		return svcA.Stats().StopsRefuted == 1
	})
	if _, ok := a.Member(bm.Key()); !ok || gone.Load() != 0 {
		t.Fatalf("after one forged STOP A lists B: %v, reported B gone %d times", ok, gone.Load())
	}

	// A burst: each STOP while a check runs, or within stopCheckGap after one refuted,
	// waits for that check; at most one more check follows each gap.
	const burst = 200
	begin := time.Now()
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range burst / 4 {
				stop()
			}
		})
	}
	wg.Wait()
	took := time.Since(begin)
	// B's messages still reach A: a synchronized send is refused (FAIL_ACK) by a channel
	// that does not list its sender.
	a.AddMessageListener(channel.MessageListenerFunc(func(*channel.Message) error { return nil }))
	msg := &channel.Message{Options: channel.OptUseAck | channel.OptSyncAck | channel.OptByteMessage, Data: []byte("from B")}
	if err := b.SendMessage(context.Background(), []channel.Member{a.LocalMember()}, msg); err != nil {
		t.Fatalf("B's message to A after the forged STOPs: %v", err)
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "the burst's checks ended", func() bool {
		svcA.mu.Lock()
		defer svcA.mu.Unlock()
		return len(svcA.stopChecks) == 0
	})
	if _, ok := a.Member(bm.Key()); !ok || gone.Load() != 0 {
		t.Fatalf("after %d forged STOPs A lists B: %v, reported B gone %d times", burst+1, ok, gone.Load())
	}
	checks := svcA.Stats().StopsRefuted - 1
	maxChecks := uint64(took/stopCheckGap) + 2
	t.Logf("%d forged STOPs in %v: %d checks of B", burst, took, checks)
	if checks > maxChecks {
		t.Errorf("%d forged STOPs in %v made %d checks, want at most %d (one a stopCheckGap)", burst, took, checks, maxChecks)
	}
}

// TestStopOfMembershipAloneHonouredAtOnce: B stops its membership while its transport
// runs on, so A's check of B's STOP reaches B. B's RPC channel is closed, and what it
// leaves in its place answers A's PING with a NoRpcChannelReply (as Java's channel does
// once its provider stopped): A drops B after that round trip, although A's RPCTimeout
// (an hour here) would have kept it waiting, and reports it gone with the STOP's member
// (the shutdown command). B's membership started again is listed again at once: its Start
// closed that responder first.
func TestStopOfMembershipAloneHonouredAtOnce(t *testing.T) {
	p := testutil.FreePorts(t, 2)
	a, b, svcA := staticPair(t, p, Config{ExpirationTime: time.Hour, PingInterval: time.Hour, RPCTimeout: time.Hour})
	bm := b.LocalMember()
	var mu sync.Mutex
	var goneAs []channel.Member
	a.AddMembershipListener(channel.MembershipFuncs{Disappeared: func(g channel.Member) {
		mu.Lock()
		goneAs = append(goneAs, g)
		mu.Unlock()
	}})
	if err := b.Stop(context.Background(), channel.SvcMembership); err != nil {
		t.Fatal(err)
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "A reports B gone", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(goneAs) > 0
	})
	mu.Lock()
	g := goneAs[0]
	mu.Unlock()
	if g.Key() != bm.Key() || string(g.Command) != string(wire.ShutdownCommand) {
		t.Fatalf("A reported %v gone, want B with the shutdown command", g)
	}
	if _, ok := a.Member(bm.Key()); ok {
		t.Fatal("A still lists B")
	}
	if st := svcA.Stats(); st.StopsRefuted != 0 {
		t.Fatalf("B's own STOP refuted: %+v", st)
	}
	if err := b.Start(context.Background(), channel.SvcMembership); err != nil {
		t.Fatal(err)
	}
	if _, ok := a.Member(bm.Key()); !ok {
		t.Fatalf("A does not list B after B's membership started again: %v", a.Members())
	}
}
