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
	"github.com/gotribes/tribes/wire"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type events struct{ got []string }

func (e *events) MemberAdded(m channel.Member)       { e.got = append(e.got, "+"+m.Addr()) }
func (e *events) MemberDisappeared(m channel.Member) { e.got = append(e.got, "-"+m.Addr()) }

func TestStaticMembershipOnChannel(t *testing.T) {
	nw := channeltest.NewNetwork()
	a, b := nw.NewNode(), nw.NewNode()
	bm, _ := wire.ParseMemberText("127.0.0.1:4001")
	am, _ := wire.ParseMemberText("127.0.0.1:4000")
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

// TestNilListener: a service started without a listener (a membership used on its own,
// for its member list) lists its members and changes them without panicking, as
// membership/mcast does.
func TestNilListener(t *testing.T) {
	ms, err := wire.ParseMemberList("127.0.0.1:4001,127.0.0.1:4002")
	if err != nil {
		t.Fatal(err)
	}
	local, _ := wire.ParseMemberText("127.0.0.1:4000")
	svc := static.New(ms[0])
	ctx := context.Background()
	if err := svc.Start(ctx, channel.SvcMembership, local, nil); err != nil {
		t.Fatal(err)
	}
	if err := svc.Add(context.Background(), ms[1]); err != nil {
		t.Fatal(err)
	}
	if got := svc.Members(); len(got) != 2 {
		t.Fatalf("members %v", got)
	}
	if err := svc.Remove(context.Background(), ms[0].Key()); err != nil {
		t.Fatal(err)
	}
	if err := svc.Stop(ctx, channel.SvcMembership); err != nil {
		t.Fatal(err)
	}
	if got := svc.Members(); len(got) != 0 {
		t.Fatalf("members after Stop %v", got)
	}
}
