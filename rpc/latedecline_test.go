package rpc_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/rpc"
)

// TestCloseDeclinesAReplyItCancelled: the reply to a non-member's request, sent off the
// receiving goroutine, is cancelled by the rpc.Channel's Close when it has not left yet;
// the caller, whose request was taken and answered, then waited for its timeout (a
// static membership's check of a STOP waited RPCTimeout for a node that took its PING and
// stopped). The callee now sends a NoRpcChannelReply in its place: the call ends at once,
// with no response and no error, as for a node without the rpc id.
func TestCloseDeclinesAReplyItCancelled(t *testing.T) {
	nw := channeltest.NewNetwork()
	caller := newNode(t, nw)
	var first atomic.Bool
	g := &gate{release: make(chan struct{}), open: make(chan struct{}),
		hold: func([]channel.Member) bool { return first.CompareAndSwap(false, true) }} // the reply, not what follows
	callee := calleeOn(t, nw, false, g)
	t.Cleanup(func() { close(g.open) })
	id := []byte("closing")
	srv, err := rpc.New(rpc.Config{Channel: callee, ID: id, Handler: answer("callee"), AcceptNonMembers: true})
	if err != nil {
		t.Fatal(err)
	}
	c := newRPC(t, rpc.Config{Channel: caller.ch, ID: id, Handler: answer("caller"), AcceptNonMembers: true})
	type result struct {
		resps []rpc.Response
		err   error
	}
	done := make(chan result, 1)
	ctx, cancel := context.WithTimeout(context.Background(), testutil.WaitLimit)
	defer cancel()
	go func() {
		resps, err := c.Call(ctx, []channel.Member{callee.LocalMember()}, "q", rpc.AllReply, 0)
		done <- result{resps, err}
	}()
	testutil.EventuallyTrue(t, testutil.WaitLimit, "the callee's reply held", func() bool { return g.entered.Load() == 1 })
	if err := srv.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if g.ended.Load() != 1 {
		t.Fatalf("the held reply was not cancelled by Close (%d ended)", g.ended.Load())
	}
	select {
	case r := <-done:
		if r.err != nil || len(r.resps) != 0 {
			t.Fatalf("call: %d responses, %v; want none and no error (declined)", len(r.resps), r.err)
		}
	case <-time.After(testutil.WaitLimit):
		t.Fatal("the call still waits after the callee closed with its reply unsent")
	}
}
