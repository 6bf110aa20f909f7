package staticsvc

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/transport/nio"
	"github.com/gotribes/tribes/wire"
)

// holdOneSend holds the first send to the member at port, once armed, until the send's
// context ends (a reply still on its way when its rpc.Channel closes).
type holdOneSend struct {
	channel.InterceptorBase
	port  atomic.Int32 // armed when not 0
	held  atomic.Int32
	ended atomic.Int32
}

func (h *holdOneSend) SendMessage(ctx context.Context, to []channel.Member, msg *channel.Message) error {
	for _, m := range to {
		if p := h.port.Load(); p != 0 && m.Port == p && h.port.CompareAndSwap(p, 0) {
			h.held.Add(1)
			<-ctx.Done()
			h.ended.Add(1)
			return ctx.Err()
		}
	}
	return h.InterceptorBase.SendMessage(ctx, to, msg)
}

// TestStoppingNodeDeclinesThePingItTook: B took the PING of A's check of a STOP naming
// it and answered it, but its reply (to A, which B does not list: sent off B's receiving
// goroutine) had not left when B's membership stopped and closed its RPC channel, which
// cancelled it. B's transport runs on, so its port accepts connections, and A's check
// waited RPCTimeout (an hour here) before it dropped B. B now declines the PING it took
// when its reply is so cancelled (a NoRpcChannelReply in its place, package rpc): A's
// check concludes at once and A drops B, the STOP not refuted.
func TestStoppingNodeDeclinesThePingItTook(t *testing.T) {
	p := testutil.FreePorts(t, 2)
	cfg := Config{ExpirationTime: time.Hour, PingInterval: time.Hour, RPCTimeout: time.Hour}
	for _, port := range p {
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
	a := startChannel(t, p[0], svcA)
	hold := &holdOneSend{}
	tcfg := nio.DefaultConfig()
	tcfg.Port, tcfg.AutoBind = p[1], 1
	tr, err := nio.New(tcfg)
	if err != nil {
		t.Fatal(err)
	}
	b, err := channel.New(channel.Config{Transport: tr, Membership: svcB, HeartbeatInterval: -1,
		Interceptors: []channel.Interceptor{hold}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Stop(context.Background(), channel.SvcAll) })
	if err := b.Start(context.Background(), channel.SvcAll); err != nil {
		t.Fatal(err)
	}
	bm := b.LocalMember()
	if _, ok := a.Member(bm.Key()); !ok {
		t.Fatalf("A does not list B: %v", a.Members())
	}
	// B no longer lists A: its replies to A go off its receiving goroutine.
	Leave(svcB, a.LocalMember())
	hold.port.Store(int32(p[0]))

	forged := bm.Clone()
	forged.Command = wire.ShutdownCommand
	svcA.stopReceived(forged)
	testutil.EventuallyTrue(t, testutil.WaitLimit, "B's reply to A's PING held", func() bool { return hold.held.Load() == 1 })
	if err := b.Stop(context.Background(), channel.SvcMembership); err != nil {
		t.Fatal(err)
	}
	if hold.ended.Load() != 1 {
		t.Fatal("B's stop did not cancel its reply")
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "A drops B: its check of the STOP concluded", func() bool {
		_, ok := a.Member(bm.Key())
		return !ok
	})
	if n := svcA.Stats().StopsRefuted; n != 0 {
		t.Errorf("the STOP was refuted %d times by a node that stopped", n)
	}
}
