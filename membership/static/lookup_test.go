package static_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/membership/static"
	"github.com/gotribes/tribes/wire"
)

// listed returns n members on 127.0.0.1, from port 20000 on; every other one has no
// unique id (it is matched by host and port).
func listed(n int) []channel.Member {
	ms := make([]channel.Member, n)
	for i := range ms {
		ms[i] = channel.Member{Host: []byte{127, 0, 0, 1}, Port: int32(20000 + i), SecurePort: -1, UDPPort: -1}
		if i%2 == 0 {
			ms[i].UniqueID[0], ms[i].UniqueID[1], ms[i].UniqueID[15] = byte(i), byte(i>>8), 0x66
		}
	}
	return ms
}

// startOn starts a channel over a static membership of members.
func startOn(tb testing.TB, members []channel.Member) *channel.Channel {
	tb.Helper()
	nw := channeltest.NewNetwork()
	ch, err := channel.New(channel.Config{Transport: nw.NewNode().Transport(), Membership: static.New(members...)})
	if err != nil {
		tb.Fatal(err)
	}
	if err := ch.Start(context.Background(), channel.SvcAll); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = ch.Stop(context.Background(), channel.SvcAll) })
	return ch
}

// The channel's sender check looks every received message's source up, through the chain,
// in the membership: with 1024 members that is a map lookup that allocates nothing, for
// members with and without a unique id and for strangers, and it follows Add and Remove.
func TestMemberLookupByKey(t *testing.T) {
	ms := listed(1024)
	ch := startOn(t, ms)
	stranger := ms[1023]
	stranger.Port = 1
	for _, c := range []struct {
		m    channel.Member
		want bool
	}{{ms[1022], true}, {ms[1023], true}, {ms[0], true}, {stranger, false}} {
		key := c.m.Key()
		if _, ok := ch.Member(key); ok != c.want {
			t.Fatalf("Member(%s) = %v, want %v", c.m.Addr(), ok, c.want)
		}
		if a := testing.AllocsPerRun(100, func() { ch.Member(key) }); a != 0 {
			t.Fatalf("Member(%s) allocates %v times", c.m.Addr(), a)
		}
	}
	svc := static.New(ms[:2]...)
	if err := svc.Start(context.Background(), channel.SvcAll, channel.Member{}, channel.MembershipFuncs{}); err != nil {
		t.Fatal(err)
	}
	if err := svc.Add(context.Background(), ms[5]); err != nil {
		t.Fatal(err)
	}
	if m, ok := svc.Member(ms[5].Key()); !ok || !m.Equal(ms[5]) {
		t.Fatalf("added member not found: %v %v", m, ok)
	}
	if err := svc.Remove(context.Background(), ms[0].Key()); err != nil {
		t.Fatal(err)
	}
	if _, ok := svc.Member(ms[0].Key()); ok {
		t.Fatal("removed member still found")
	}
	if err := svc.Stop(context.Background(), channel.SvcAll); err != nil {
		t.Fatal(err)
	}
	if _, ok := svc.Member(ms[1].Key()); ok {
		t.Fatal("member found after Stop")
	}
}

// BenchmarkMemberLookup is the sender check's cost per received message: one
// Channel.Member lookup for a member, two for a stranger with a unique id (its key, then
// its host and port alone), with 2 and 1024 static members.
func BenchmarkMemberLookup(b *testing.B) {
	for _, n := range []int{2, 1024} {
		ms := listed(n)
		ch := startOn(b, ms)
		stranger := ms[0]
		stranger.Port = 1
		for _, c := range []struct {
			name string
			m    channel.Member
		}{{"member", ms[n-2]}, {"stranger", stranger}} {
			b.Run(fmt.Sprintf("members=%d/%s", n, c.name), func(b *testing.B) {
				b.ReportAllocs()
				anon := wire.Member{Host: c.m.Host, Port: c.m.Port}
				for b.Loop() {
					if _, ok := ch.Member(c.m.Key()); !ok {
						ch.Member(anon.Key())
					}
				}
			})
		}
	}
}

// BenchmarkMembers is what the send path asks for with every message to all members
// (Channel.SendMessage without a member list, session replication), with 2 and 1024
// static members.
func BenchmarkMembers(b *testing.B) {
	for _, n := range []int{2, 1024} {
		ch := startOn(b, listed(n))
		b.Run(fmt.Sprintf("members=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if len(ch.Members()) != n {
					b.Fatal("members missing")
				}
			}
		})
	}
}

// Members returns one slice, without allocating, until the list changes; a caller that
// appends to it gets a copy, and a list returned before a change stays as it was.
func TestMembersShared(t *testing.T) {
	ms := listed(3)
	svc := static.New(ms[:2]...)
	if err := svc.Start(context.Background(), channel.SvcAll, channel.Member{}, channel.MembershipFuncs{}); err != nil {
		t.Fatal(err)
	}
	got := svc.Members()
	if a := testing.AllocsPerRun(100, func() { svc.Members() }); a != 0 {
		t.Errorf("Members allocates %v times", a)
	}
	_ = append(got, ms[2])
	if err := svc.Add(context.Background(), ms[2]); err != nil {
		t.Fatal(err)
	}
	if err := svc.Remove(context.Background(), ms[0].Key()); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || !got[0].Equal(ms[0]) || !got[1].Equal(ms[1]) {
		t.Errorf("a list returned before the changes became %v", got)
	}
	if now := svc.Members(); len(now) != 2 || !now[0].Equal(ms[1]) || !now[1].Equal(ms[2]) {
		t.Errorf("members after adding the third and removing the first: %v", now)
	}
	if err := svc.Stop(context.Background(), channel.SvcAll); err != nil {
		t.Fatal(err)
	}
}
