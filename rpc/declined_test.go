package rpc_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/rpc"
)

// TestHandlerDeclines: a Handler's error wrapping ErrDeclined answers a NoRpcChannelReply,
// as a node without the id does: an AllReply call to that member and another completes
// once the other replied, without a response from it and without waiting for the
// context, and the LeftOver function gets nothing. An error that wraps nothing of the kind
// still sends no reply: the same call then waits for its context.
func TestHandlerDeclines(t *testing.T) {
	nw := channeltest.NewNetwork()
	caller, b, c := newNode(t, nw), newNode(t, nw), newNode(t, nw)
	declined := make(chan struct{}, 1)
	newRPC(t, rpc.Config{Channel: b.ch, Handler: rpc.HandlerFunc(func(msg any, _ channel.Member) (any, error) {
		if msg == "fail" {
			return nil, fmt.Errorf("not now")
		}
		declined <- struct{}{}
		return "never sent", fmt.Errorf("stopping: %w", rpc.ErrDeclined)
	})})
	newRPC(t, rpc.Config{Channel: c.ch, Handler: answer("c")})
	leftOver := make(chan any, 4)
	r := newRPC(t, rpc.Config{Channel: caller.ch, Handler: answer("caller"),
		LeftOver: func(msg any, _ channel.Member) { leftOver <- msg }})

	ctx, cancel := context.WithTimeout(context.Background(), testutil.WaitLimit)
	defer cancel()
	rs, err := r.Call(ctx, []channel.Member{b.mbr, c.mbr}, "q", rpc.AllReply, 0)
	if err != nil {
		t.Fatalf("call with b declining: %v (the NoRpcChannelReply did not end the wait for b?)", err)
	}
	if got := replies(rs); len(got) != 1 || got["c:q"] != c.mbr.Port {
		t.Fatalf("responses %v, want c's alone", got)
	}
	select {
	case <-declined:
	default:
		t.Fatal("b's handler did not run")
	}

	// A plain error is no answer: the call waits for its context.
	short, cancelShort := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancelShort()
	if _, err := r.Call(short, []channel.Member{b.mbr}, "fail", rpc.AllReply, 0); !errors.Is(err, rpc.ErrTimeout) {
		t.Fatalf("call to a handler failing with a plain error: %v, want ErrTimeout", err)
	}
	select {
	case m := <-leftOver:
		t.Fatalf("left-over %v", m)
	default:
	}
}
