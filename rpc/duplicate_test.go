package rpc_test

import (
	"context"
	"sync"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/rpc"
)

// A member listed twice in Call's destinations gets the request once: its handler runs
// once, and the call counts it once.
func TestCallToRepeatedMemberSendsOnce(t *testing.T) {
	nw := channeltest.NewNetwork()
	caller, b, c := newNode(t, nw), newNode(t, nw), newNode(t, nw)
	var mu sync.Mutex
	var got []any
	record := rpc.HandlerFunc(func(msg any, _ channel.Member) (any, error) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, msg)
		return "ok", nil
	})
	newRPC(t, rpc.Config{Channel: b.ch, Handler: record})
	newRPC(t, rpc.Config{Channel: c.ch, Handler: answer("c")})
	var lmu sync.Mutex
	var left []any
	r := newRPC(t, rpc.Config{Channel: caller.ch, Handler: answer("caller"), LeftOver: func(msg any, _ channel.Member) {
		lmu.Lock()
		defer lmu.Unlock()
		left = append(left, msg)
	}})
	ctx, cancel := context.WithTimeout(context.Background(), testutil.WaitLimit)
	defer cancel()
	// b's configured twin: same host and port, no unique id (sameMember).
	twin := channel.Member{Host: b.mbr.Host, Port: b.mbr.Port}
	rs, err := r.Call(ctx, []channel.Member{b.mbr, c.mbr, b.mbr, twin}, "q", rpc.AllReply, 0)
	if err != nil || len(rs) != 2 {
		t.Fatalf("call: %d responses (%v), %v", len(rs), rs, err)
	}
	// A later request to b is handled after any repeat of the first one.
	if _, err := r.Call(ctx, []channel.Member{b.mbr}, "sync", rpc.AllReply, 0); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 2 || got[0] != "q" || got[1] != "sync" {
		t.Fatalf("b handled %v, want [q sync]", got)
	}
	lmu.Lock()
	defer lmu.Unlock()
	if len(left) != 0 {
		t.Fatalf("left-overs %v", left)
	}
}
