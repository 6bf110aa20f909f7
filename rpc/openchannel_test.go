package rpc_test

import (
	"context"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/membership/static"
	"github.com/gotribes/tribes/rpc"
)

// TestOpenChannelStrangerRepliesOffTheReceiver: on a channel that takes every sender's
// messages (channel.Config.AcceptNonMembers, as the Go side of a Tomcat cluster and
// tribesdemo run it), a non-member's RpcMessage reaches the dispatcher whatever its rpc
// id. A request for an rpc.Channel without rpc.Config.AcceptNonMembers was answered from
// the receiving goroutine, and one for an id no rpc.Channel has with a NoRpcChannelReply
// from there too: to the request's source, an address the stranger writes, so that a
// send to one that does not answer held the receiver for the transport's timeout (15
// frames held every worker of transport/nio). Here every send of the callee hangs (as to
// a blackhole): a synchronized request must still be acknowledged. The rpc.Channel's
// reply goes off the receiving goroutine, bounded as for AcceptNonMembers
// (Stats.NonMemberReplies); so does the NoRpcChannelReply for the id nobody has, which
// a Java caller needs (TestOpenChannelAnswersAStrangerForAnUnknownID).
func TestOpenChannelStrangerRepliesOffTheReceiver(t *testing.T) {
	nw := channeltest.NewNetwork()
	caller := newNode(t, nw)
	g := &gate{release: make(chan struct{}), open: make(chan struct{})}
	// The callee lists nobody: the caller is a non-member, let through by the channel.
	callee := calleeOn(t, nw, true, g)
	t.Cleanup(func() { close(g.open) }) // before the channel stops, should a reply hold its receiver
	known := []byte("members-only")
	srv, err := rpc.New(rpc.Config{Channel: callee, ID: known, Handler: answer("callee")})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close(context.Background())
	to := []channel.Member{callee.LocalMember()}

	// call sends a synchronized request for id and returns its error once acknowledged,
	// failing the test if the acknowledgement does not come.
	call := func(id []byte) error {
		t.Helper()
		c, err := rpc.New(rpc.Config{Channel: caller.ch, ID: id, Handler: answer("caller")})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close(context.Background())
		errc := make(chan error, 1)
		go func() {
			_, err := c.Call(context.Background(), to, "q", rpc.NoReply, channel.OptUseAck|channel.OptSyncAck)
			errc <- err
		}()
		select {
		case err := <-errc:
			return err
		case <-time.After(testutil.WaitLimit):
			t.Fatalf("a stranger's request for %q still unacknowledged: its answer holds the callee's receiving goroutine", id)
			return nil
		}
	}

	if err := call(known); err != nil {
		t.Fatalf("request for an rpc.Channel: %v", err)
	}
	if s := srv.Stats(); s.NonMemberReplies != 1 {
		t.Fatalf("stats %+v, want the reply to the non-member sent off the receiving goroutine", s)
	}
	if err := call([]byte("no-such-id")); err != nil {
		t.Fatalf("request for an id nobody has: %v", err)
	}
	// Both answers were sent, each held by the gate, neither on the receiving goroutine.
	testutil.EventuallyTrue(t, testutil.WaitLimit, "the callee sends the rpc.Channel's reply and the NoRpcChannelReply",
		func() bool { return g.entered.Load() == 2 })
	// Closing the last rpc.Channel cancels both sends still held: its own reply (waited
	// for) and the dispatcher's NoRpcChannelReply (not waited for). The reply, cancelled
	// before it left, is replaced by a NoRpcChannelReply, held in turn until its own
	// bound (a second) ends it, which Close waits for too.
	if err := srv.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "both held sends cancelled by the close, and the reply's replacement ended",
		func() bool { return g.ended.Load() == 3 && g.entered.Load() == 3 })
}

// TestOpenChannelAnswersAStrangerForAnUnknownID: a node that lists this one before this
// one lists it (a Tomcat node that saw this node's heartbeat first, whose replicated
// maps send MSG_INIT and MSG_START, FIRST_REPLY, to every member it lists) and calls an
// rpc id this node has no rpc.Channel for gets a NoRpcChannelReply, as from a Java
// node: its call ends at once with no response, instead of waiting for its timeout
// (Tomcat's rpcTimeout, 15 s for a BackupManager's map) for a reply that never comes.
func TestOpenChannelAnswersAStrangerForAnUnknownID(t *testing.T) {
	nw := channeltest.NewNetwork()
	callee := calleeOn(t, nw, true)
	// Another id, so that the callee's dispatcher is registered.
	srv, err := rpc.New(rpc.Config{Channel: callee, ID: []byte("other"), Handler: answer("callee")})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close(context.Background())
	// The caller lists the callee, which lists nobody.
	caller, err := channel.New(channel.Config{Transport: nw.NewNode().Transport(),
		Membership: static.New(callee.LocalMember()), HeartbeatInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	channeltest.Start(t, caller)
	c, err := rpc.New(rpc.Config{Channel: caller, ID: []byte("map-the-callee-lacks"), Handler: answer("caller")})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	for _, mode := range []rpc.Mode{rpc.FirstReply, rpc.AllReply} {
		ctx, cancel := context.WithTimeout(context.Background(), testutil.WaitLimit)
		resps, err := c.Call(ctx, []channel.Member{callee.LocalMember()}, "MSG_START", mode, channel.OptUseAck)
		cancel()
		if err != nil || len(resps) != 0 {
			t.Fatalf("mode %v: call of an id the callee lacks: %d responses, %v; want none and no error (a NoRpcChannelReply)",
				mode, len(resps), err)
		}
	}
}
