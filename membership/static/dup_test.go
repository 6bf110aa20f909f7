package static_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/membership/static"
	"github.com/gotribes/tribes/wire"
)

// TestDuplicateListEntriesAreOneMember: a list that names a member twice (the same
// entry written twice, or a host name and its address, which tribesdemo --static
// accepts) is one member: it is announced once, listed once,
// a message to all members reaches it once, and it disappears once.
func TestDuplicateListEntriesAreOneMember(t *testing.T) {
	nw := channeltest.NewNetwork()
	a, b := nw.NewNode(), nw.NewNode()
	chB, err := channel.New(channel.Config{Transport: b.Transport()})
	if err != nil {
		t.Fatal(err)
	}
	recv := make(chan string, 4)
	chB.AddMessageListener(channel.MessageListenerFunc(func(m *channel.Message) error {
		recv <- string(m.Data)
		return nil
	}))
	ctx := context.Background()
	if err := chB.Start(ctx, channel.SvcTransport); err != nil {
		t.Fatal(err)
	}
	defer chB.Stop(ctx, channel.SvcAll)
	text := fmt.Sprintf("127.0.0.1:%d", b.Port())
	list, err := wire.ParseMemberList(text + "," + text)
	if err != nil {
		t.Fatal(err)
	}
	svc := static.New(list...)
	ch, err := channel.New(channel.Config{Transport: a.Transport(), Membership: svc})
	if err != nil {
		t.Fatal(err)
	}
	bm := list[0]
	ev := &events{}
	ch.AddMembershipListener(ev)
	if err := ch.Start(ctx, channel.SvcAll); err != nil {
		t.Fatal(err)
	}
	if ms := svc.Members(); len(ms) != 1 {
		t.Errorf("%d members listed for one node named twice: %v", len(ms), ms)
	}
	if err := ch.Send(ctx, nil, []byte("once"), channel.OptUseAck); err != nil {
		t.Fatal(err)
	}
	<-recv
	// The in-memory network delivers synchronously: a second copy would be queued by now.
	if len(recv) != 0 {
		t.Errorf("a message to all members reached the node %d times", 1+len(recv))
	}
	if err := svc.Add(context.Background(), list[0]); err != nil { // adding it again changes nothing
		t.Fatal(err)
	}
	if err := svc.Remove(context.Background(), bm.Key()); err != nil {
		t.Fatal(err)
	}
	if ms := svc.Members(); len(ms) != 0 {
		t.Errorf("members after Remove: %v", ms)
	}
	if err := ch.Stop(ctx, channel.SvcAll); err != nil {
		t.Fatal(err)
	}
	if want := []string{"+" + bm.Addr(), "-" + bm.Addr()}; !slices.Equal(ev.got, want) {
		t.Errorf("events %v, want %v", ev.got, want)
	}
}
