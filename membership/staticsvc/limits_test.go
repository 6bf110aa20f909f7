package staticsvc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/membership/static"
	"github.com/gotribes/tribes/transport/nio"
	"github.com/gotribes/tribes/wire"
)

func startChannel(t *testing.T, port int, mb channel.MembershipService) *channel.Channel {
	t.Helper()
	return startChannelTimeout(t, port, mb, 0)
}

// startChannelTimeout is startChannel with the transport's Timeout and DialTimeout (their
// defaults if 0).
func startChannelTimeout(t *testing.T, port int, mb channel.MembershipService, timeout time.Duration) *channel.Channel {
	t.Helper()
	tcfg := nio.DefaultConfig()
	tcfg.Port, tcfg.AutoBind = port, 1
	if timeout > 0 {
		tcfg.Timeout, tcfg.DialTimeout = timeout, timeout
	}
	tr, err := nio.New(tcfg)
	if err != nil {
		t.Fatal(err)
	}
	ch, err := channel.New(channel.Config{Transport: tr, Membership: mb, HeartbeatInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ch.Stop(context.Background(), channel.SvcAll) })
	if err := ch.Start(context.Background(), channel.SvcAll); err != nil {
		t.Fatal(err)
	}
	return ch
}

// TestStrangerStartsBounded: a process that is not one of the static members (a
// stranger that can reach the receiver port) sends MSG_STARTs, each announcing an
// invented member with a 16 KB payload, then with 1 KB. None may become a member beyond
// the limits (Config.MaxPayloadSize, Config.MaxMembers; mcast and cloud keep at most
// 1024 members, mcast at most 4 KB of payload each): the view's memory must not grow with
// what the stranger sends, nor the channel list (and send every message for all members
// to) each invented address.
func TestStrangerStartsBounded(t *testing.T) {
	p := testutil.FreePorts(t, 3)
	list := make([]channel.Member, 0, 2)
	for _, port := range p[:2] {
		m, err := wire.ParseMemberText(fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			t.Fatal(err)
		}
		list = append(list, m)
	}
	svc, err := New(Config{Members: list, ExpirationTime: time.Hour, PingInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	a := startChannel(t, p[0], svc)
	target := a.LocalMember()

	// The stranger: its own channel on a port no static list names.
	x := startChannel(t, p[2], static.New(target))

	const n = 1100
	const maxMembers = 1024 // what the project's other memberships keep at most
	// send has the stranger send a START for each of n invented members with this payload,
	// from eight senders at once; each send is acknowledged once A has processed it.
	send := func(payload []byte) {
		t.Helper()
		const workers = 8
		errs := make(chan error, workers)
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				for i := w; i < n; i += workers {
					inv := channel.Member{Host: []byte{127, 0, 0, 1}, Port: int32(20000 + i), SecurePort: -1, UDPPort: -1,
						AliveTime: 1, Payload: payload}
					inv.UniqueID[0], inv.UniqueID[1], inv.UniqueID[2] = 0xee, byte(i), byte(i>>8)
					b, err := svc.cls.marshal(memberMessage{typ: msgStart, member: inv, id: svc.id})
					if err == nil {
						msg := &channel.Message{Options: channel.OptUseAck | channel.OptSyncAck, Data: b}
						err = x.SendMessage(context.Background(), []channel.Member{target}, msg)
					}
					if err != nil {
						errs <- fmt.Errorf("send %d: %w", i, err)
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
	}
	held := func() (members, payload int) {
		for _, m := range a.Members() {
			members++
			payload += len(m.Payload)
		}
		return members, payload
	}

	// 16 KB payloads: over MaxPayloadSize, none is kept.
	send(bytes.Repeat([]byte{'p'}, 16<<10))
	got, bytesHeld := held()
	t.Logf("after %d STARTs from a stranger with 16 KB payloads: %d members holding %d KB of payload", n, got, bytesHeld>>10)
	if got > maxMembers {
		t.Errorf("a stranger's %d invented members were all kept (%d members, %d KB of payloads): the view is unbounded",
			n, got, bytesHeld>>10)
	}
	if st := svc.Stats(); st.OversizedMembers != n {
		t.Errorf("Stats.OversizedMembers %d, want %d", st.OversizedMembers, n)
	}

	// 1 KB payloads: the first MaxMembers are kept, the others refused.
	send(bytes.Repeat([]byte{'p'}, 1<<10))
	got, bytesHeld = held()
	t.Logf("after %d STARTs from a stranger with 1 KB payloads: %d members holding %d KB of payload", n, got, bytesHeld>>10)
	if got != maxMembers {
		t.Errorf("%d members after %d invented ones, want %d (MaxMembers)", got, n, maxMembers)
	}
	if st := svc.Stats(); st.MembersOverLimit != n-maxMembers {
		t.Errorf("Stats.MembersOverLimit %d, want %d", st.MembersOverLimit, n-maxMembers)
	}
}

// TestMemberLimits: once Config.MaxMembers are kept, a new member is ignored and counted
// while the kept ones are still refreshed; one leaving makes room. A member whose payload
// is over MaxPayloadSize, or whose domain or command is over MaxNameSize, is ignored and
// counted. Zero limits take the defaults, negative ones are refused.
func TestMemberLimits(t *testing.T) {
	def, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	if def.cfg.MaxMembers != DefaultMaxMembers || def.cfg.MaxPayloadSize != DefaultMaxPayloadSize ||
		DefaultMaxMembers != 1024 || DefaultMaxPayloadSize != 4096 {
		t.Errorf("defaults MaxMembers %d, MaxPayloadSize %d", def.cfg.MaxMembers, def.cfg.MaxPayloadSize)
	}
	for _, c := range []Config{{MaxMembers: -1}, {MaxPayloadSize: -1}} {
		if _, err := New(c); !errors.Is(err, channel.ErrInvalidConfig) {
			t.Errorf("New(%+v) = %v, want ErrInvalidConfig", c, err)
		}
	}

	p := testutil.FreePorts(t, 1)
	const maxMembers = 4
	svc, err := New(Config{ExpirationTime: time.Hour, PingInterval: time.Hour, MaxMembers: maxMembers, MaxPayloadSize: 100})
	if err != nil {
		t.Fatal(err)
	}
	ch := startChannel(t, p[0], svc)
	member := func(i int) channel.Member {
		m := channel.Member{Host: []byte{127, 0, 0, 1}, Port: int32(20000 + i), SecurePort: -1, UDPPort: -1, AliveTime: 1}
		m.UniqueID[0] = byte(i)
		return m
	}
	for i := range maxMembers + 2 {
		svc.heard(member(i), member(i), true, time.Time{})
	}
	if n := len(ch.Members()); n != maxMembers {
		t.Fatalf("%d members, want %d", n, maxMembers)
	}
	if st := svc.Stats(); st.MembersOverLimit != 2 || st.OversizedMembers != 0 {
		t.Errorf("stats %+v, want 2 over the limit", st)
	}
	// A kept member is refreshed at the limit: its new alive time shows.
	refreshed := member(0)
	refreshed.AliveTime = 99
	svc.heard(refreshed, refreshed, false, time.Time{})
	if m, ok := svc.Member(refreshed.Key()); !ok || m.AliveTime != 99 {
		t.Errorf("kept member not refreshed at the limit: %v %v", m, ok)
	}
	svc.left(member(1))
	svc.heard(member(maxMembers), member(maxMembers), true, time.Time{})
	if _, ok := svc.Member(member(maxMembers).Key()); !ok {
		t.Error("no room made by a member leaving")
	}

	big := member(50)
	big.Payload = bytes.Repeat([]byte{'p'}, 101)
	longDomain, longCommand := member(51), member(52)
	longDomain.Domain = bytes.Repeat([]byte{'d'}, MaxNameSize+1)
	longCommand.Command = bytes.Repeat([]byte{'c'}, MaxNameSize+1)
	svc.left(member(2)) // room, so that only the sizes refuse them
	for _, m := range []channel.Member{big, longDomain, longCommand} {
		svc.heard(m, m, true, time.Time{})
		if _, ok := svc.Member(m.Key()); ok {
			t.Errorf("member %v over the size limits kept", m)
		}
	}
	if st := svc.Stats(); st.OversizedMembers != 3 {
		t.Errorf("Stats.OversizedMembers %d, want 3", st.OversizedMembers)
	}
	fits := member(53)
	fits.Payload = bytes.Repeat([]byte{'p'}, 100)
	svc.heard(fits, fits, true, time.Time{})
	if _, ok := svc.Member(fits.Key()); !ok {
		t.Error("a member with a payload of MaxPayloadSize not kept")
	}
}
