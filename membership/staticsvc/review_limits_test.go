package staticsvc

import (
	"bytes"
	"context"
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

func reviewChannel(t *testing.T, port int, mb channel.MembershipService) *channel.Channel {
	t.Helper()
	tcfg := nio.DefaultConfig()
	tcfg.Port, tcfg.AutoBind = port, 1
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

// TestReviewStrangerStartsBounded: a process that is not one of the static members (a
// stranger that can reach the receiver port) sends MSG_STARTs, each announcing an
// invented member with a 16 KB payload. Every one becomes a member: the view has no cap
// (mcast and cloud keep at most 1024 members, mcast at most 4 KB of payload each), so its
// memory grows with what the stranger sends, and the channel lists (and sends every
// message for all members to) each invented address.
func TestReviewStrangerStartsBounded(t *testing.T) {
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
	a := reviewChannel(t, p[0], svc)
	target := a.LocalMember()

	// The stranger: its own channel on a port no static list names.
	x := reviewChannel(t, p[2], static.New(target))

	const n = 1100
	const maxMembers = 1024 // what the project's other memberships keep at most
	payload := bytes.Repeat([]byte{'p'}, 16<<10)
	// Eight senders at once; each send is acknowledged once A has processed it.
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
	got := len(a.Members())
	held := 0
	for _, m := range a.Members() {
		held += len(m.Payload)
	}
	t.Logf("after %d STARTs from a stranger: %d members holding %d KB of payload", n, got, held>>10)
	if got > maxMembers {
		t.Errorf("a stranger's %d invented members were all kept (%d members, %d KB of payloads): the view is unbounded",
			n, got, held>>10)
	}
}
