package rpc_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/jserial"
	"github.com/gotribes/tribes/rpc"
)

// docs/rpc.md: the modes are Java's RpcChannel constants (FIRST_REPLY 1, MAJORITY_REPLY 2,
// ALL_REPLY 3, NO_REPLY 4), and a call refused with channel.ErrNoMembers,
// rpc.ErrInvalidMode or jserial.ErrType sent nothing and returns nil responses: the
// callee's handler sees only the good call made after them (the in-memory network keeps a
// pair's messages in order).
func TestRefusedCallsSendNothingAsDocumented(t *testing.T) {
	for _, m := range []struct {
		mode rpc.Mode
		java int32
	}{{rpc.FirstReply, 1}, {rpc.MajorityReply, 2}, {rpc.AllReply, 3}, {rpc.NoReply, 4}} {
		if int32(m.mode) != m.java {
			t.Errorf("%v = %d, Java's constant is %d", m.mode, int32(m.mode), m.java)
		}
	}

	nw := channeltest.NewNetwork()
	lone := newNode(t, nw)
	// lone's membership lists the nodes made after it only once they start; it is
	// alone while no other node exists.
	lc := newRPC(t, rpc.Config{Channel: lone.ch, Handler: answer("lone")})
	ctx, cancel := context.WithTimeout(context.Background(), testutil.WaitLimit)
	defer cancel()
	if rs, err := lc.Call(ctx, nil, "x", rpc.AllReply, 0); !errors.Is(err, channel.ErrNoMembers) || rs != nil {
		t.Errorf("no members: %v, %v; want ErrNoMembers and nil responses", rs, err)
	}

	caller, callee := newNode(t, nw), newNode(t, nw)
	var mu sync.Mutex
	var seen []any
	newRPC(t, rpc.Config{Channel: callee.ch, Handler: rpc.HandlerFunc(func(msg any, _ channel.Member) (any, error) {
		mu.Lock()
		seen = append(seen, msg)
		mu.Unlock()
		return "pong", nil
	})})
	c := newRPC(t, rpc.Config{Channel: caller.ch, Handler: answer("caller")})
	to := []channel.Member{callee.mbr}
	if rs, err := c.Call(ctx, to, "bad mode", rpc.Mode(9), channel.OptUseAck); !errors.Is(err, rpc.ErrInvalidMode) || rs != nil {
		t.Errorf("mode 9: %v, %v; want ErrInvalidMode and nil responses", rs, err)
	}
	if rs, err := c.Call(ctx, to, make(chan int), rpc.AllReply, channel.OptUseAck); !errors.Is(err, jserial.ErrType) || rs != nil {
		t.Errorf("a chan: %v, %v; want jserial.ErrType and nil responses", rs, err)
	}
	rs, err := c.Call(ctx, to, "ok", rpc.AllReply, channel.OptUseAck)
	if err != nil || len(rs) != 1 || rs[0].Message != "pong" {
		t.Fatalf("good call: %v, %v", rs, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 1 || seen[0] != "ok" {
		t.Errorf("the callee's handler saw %q, want only the good call's \"ok\"", seen)
	}
}
