package static_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"go.uber.org/goleak"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/membership/static"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestParseMember(t *testing.T) {
	m, err := static.ParseMember("127.0.0.1:4000:15ddf6a6977d4c619ac2137b358d5600")
	if err != nil {
		t.Fatal(err)
	}
	if m.Addr() != "127.0.0.1:4000" || m.UniqueID.String() != "15ddf6a6977d4c619ac2137b358d5600" || len(m.Host) != 4 {
		t.Fatalf("parsed %v", m.String())
	}
	if static.FormatMember(m) != "127.0.0.1:4000:15ddf6a6977d4c619ac2137b358d5600" {
		t.Fatal(static.FormatMember(m))
	}
	v6, err := static.ParseMember("[::1]:4001")
	if err != nil || len(v6.Host) != 16 || v6.Port != 4001 || v6.UniqueID != (channel.UniqueID{}) {
		t.Fatalf("ipv6: %v %v", v6.String(), err)
	}
	list, err := static.ParseMembers("127.0.0.1:1, 127.0.0.1:2:00000000000000000000000000000001,")
	if err != nil || len(list) != 2 || list[1].UniqueID[15] != 1 {
		t.Fatalf("list %v %v", list, err)
	}
	for _, bad := range []string{"nohost", "127.0.0.1:70000", "127.0.0.1:1:zz", "127.0.0.1:4000:0102"} {
		if _, err := static.ParseMember(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

type events struct{ got []string }

func (e *events) MemberAdded(m channel.Member)       { e.got = append(e.got, "+"+m.Addr()) }
func (e *events) MemberDisappeared(m channel.Member) { e.got = append(e.got, "-"+m.Addr()) }

func TestStaticMembershipOnChannel(t *testing.T) {
	nw := channeltest.NewNetwork()
	a, b := nw.NewNode(), nw.NewNode()
	bm, _ := static.ParseMember("127.0.0.1:4001")
	am, _ := static.ParseMember("127.0.0.1:4000")
	svc := static.New(am, bm) // the list includes the local member, which is left out
	ch, err := channel.New(channel.Config{Transport: a.Transport(), Membership: svc})
	if err != nil {
		t.Fatal(err)
	}
	ev := &events{}
	ch.AddMembershipListener(ev)
	recv := make(chan string, 1)
	chB, err := channel.New(channel.Config{Transport: b.Transport()})
	if err != nil {
		t.Fatal(err)
	}
	chB.AddMessageListener(channel.MessageListenerFunc(func(m *channel.Message) error {
		recv <- string(m.Data)
		return nil
	}))
	ctx := context.Background()
	if err := chB.Start(ctx, channel.SvcTransport); err != nil {
		t.Fatal(err)
	}
	defer chB.Stop(ctx, channel.SvcAll)
	if err := ch.Start(ctx, channel.SvcAll); err != nil {
		t.Fatal(err)
	}
	if ms := ch.Members(); len(ms) != 1 || ms[0].Port != 4001 {
		t.Fatalf("members %v", ms)
	}
	if _, ok := ch.Member(bm.Key()); !ok {
		t.Fatal("lookup failed")
	}
	if err := ch.Send(ctx, nil, []byte("to static"), channel.OptUseAck); err != nil {
		t.Fatal(err)
	}
	if got := <-recv; got != "to static" {
		t.Fatal(got)
	}
	if err := ch.Stop(ctx, channel.SvcAll); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ev.got, []string{"+127.0.0.1:4001", "-127.0.0.1:4001"}) {
		t.Fatalf("events %v", ev.got)
	}
	if err := ch.Send(ctx, nil, []byte("x"), 0); !errors.Is(err, channel.ErrNoMembers) && !errors.Is(err, channel.ErrNotStarted) {
		t.Fatalf("send after stop: %v", err)
	}
}
