package rpc_test

import (
	"context"
	"errors"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/rpc"
)

// A call whose context ends while its request is still being sent ends with ErrTimeout
// (and the context's error), as documented for a context that ended first, and with
// the SendError naming the members the request did not reach; the replies that came
// are returned. Here the first member's handler cancels the caller's context (the
// in-memory transport delivers in turn, on the caller's goroutine), so the request
// never reaches the second member. Before, the member the send gave up on counted as
// unreachable, the call was complete without it, and the error was the SendError
// alone: a caller testing for ErrTimeout saw none.
func TestContextEndingDuringSendIsTimeout(t *testing.T) {
	nw := channeltest.NewNetwork()
	caller, first, second := newNode(t, nw), newNode(t, nw), newNode(t, nw)
	c := newRPC(t, rpc.Config{Channel: caller.ch, Handler: answer("caller")})
	ctx, cancel := context.WithTimeout(context.Background(), testutil.WaitLimit)
	defer cancel()
	newRPC(t, rpc.Config{Channel: first.ch, Handler: rpc.HandlerFunc(func(msg any, _ channel.Member) (any, error) {
		cancel()
		return "first", nil
	})})
	newRPC(t, rpc.Config{Channel: second.ch, Handler: answer("second")})
	rs, err := c.Call(ctx, []channel.Member{first.mbr, second.mbr}, "q", rpc.AllReply, 0)
	if !errors.Is(err, rpc.ErrTimeout) || !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want ErrTimeout and context.Canceled", err)
	}
	if f := channel.FaultyMembers(err); len(f) != 1 || f[0].Member.Port != second.mbr.Port {
		t.Errorf("faulty members %v, want the second member", f)
	}
	if got := replies(rs); len(got) != 1 || got["first"] != first.mbr.Port {
		t.Errorf("responses %v, want the first member's", got)
	}
}
