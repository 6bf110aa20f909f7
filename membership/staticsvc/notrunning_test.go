package staticsvc

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/membership/static"
	"github.com/gotribes/tribes/rpc"
	"github.com/gotribes/tribes/wire"
)

// TestRequestWhileNotRunningDeclined: the service's RPC channel is registered before
// Start marks the run active, and stays registered after Stop marked it over until the
// stop closes it; a START or PING in those windows was answered with a null reply.
// Tomcat's StaticMembershipProvider hands every Response to its START and PING to
// messageReceived, which casts the message and reads its member: a null one throws a
// NullPointerException, which fails the Java node's membership start (startMembership,
// called from start) or ends its ping round before checkExpired. Declined (rpc.ErrDeclined:
// a NoRpcChannelReply), the caller counts this node out and gets no Response, as from a
// Java node whose provider is not running (its RpcChannel is gone). The window is made
// here by registering the service's handler as Start does, without starting the service.
func TestRequestWhileNotRunningDeclined(t *testing.T) {
	p := testutil.FreePorts(t, 2)
	self, err := wire.ParseMemberText(fmt.Sprintf("127.0.0.1:%d", p[0]))
	if err != nil {
		t.Fatal(err)
	}
	svc, err := New(Config{Members: []channel.Member{self}, ExpirationTime: time.Hour, PingInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	a := startChannel(t, p[0], static.New())
	rc, err := rpc.New(rpc.Config{Channel: a, ID: svc.MembershipID(), Handler: rpc.HandlerFunc(svc.replyRequest),
		AcceptNonMembers: true})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close(context.Background())

	x := startChannel(t, p[1], static.New(a.LocalMember()))
	xc, err := rpc.New(rpc.Config{Channel: x, ID: svc.MembershipID(), AcceptNonMembers: true,
		Handler: rpc.HandlerFunc(func(any, channel.Member) (any, error) { return nil, nil })})
	if err != nil {
		t.Fatal(err)
	}
	defer xc.Close(context.Background())
	for _, typ := range []int32{msgStart, msgPing} {
		req, err := svc.cls.object(memberMessage{typ: typ, member: x.LocalMember(), id: svc.MembershipID()})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), testutil.WaitLimit)
		resps, err := xc.Call(ctx, []channel.Member{a.LocalMember()}, req, rpc.AllReply, 0)
		cancel()
		if err != nil {
			t.Fatalf("type %d: %v (want the request declined at once)", typ, err)
		}
		for _, r := range resps {
			t.Errorf("type %d: a service not running answered %#v: a Java caller reads the member of every Response", typ, r.Message)
		}
	}
	if svc.Members() != nil {
		t.Fatalf("a service not running listed %v", svc.Members())
	}
}

// TestRequestAfterStopDeclined: once the service stopped, the responder it leaves for
// stopMemory declines a START and a PING (a NoRpcChannelReply, rpc.ErrDeclined), as a Java
// node whose provider stopped: a stranger's call ends at once with no response and no
// error, and the stopped service lists nobody.
func TestRequestAfterStopDeclined(t *testing.T) {
	p := testutil.FreePorts(t, 3)
	a, _, svcA := staticPair(t, p, Config{ExpirationTime: time.Hour, PingInterval: time.Hour})
	if err := a.Stop(context.Background(), channel.SvcMembership); err != nil {
		t.Fatal(err)
	}
	x := startChannel(t, p[2], static.New(a.LocalMember()))
	xc, err := rpc.New(rpc.Config{Channel: x, ID: svcA.MembershipID(), AcceptNonMembers: true,
		Handler: rpc.HandlerFunc(func(any, channel.Member) (any, error) { return nil, nil })})
	if err != nil {
		t.Fatal(err)
	}
	defer xc.Close(context.Background())
	for _, typ := range []int32{msgStart, msgPing} {
		req, err := svcA.cls.object(memberMessage{typ: typ, member: x.LocalMember(), id: svcA.MembershipID()})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), testutil.WaitLimit)
		resps, err := xc.Call(ctx, []channel.Member{a.LocalMember()}, req, rpc.AllReply, 0)
		cancel()
		if err != nil {
			t.Fatalf("type %d: %v (want the request declined at once)", typ, err)
		}
		for _, r := range resps {
			t.Errorf("type %d: a stopped service answered %#v", typ, r.Message)
		}
	}
	if ms := svcA.Members(); len(ms) != 0 {
		t.Fatalf("a stopped service lists %v", ms)
	}
}
