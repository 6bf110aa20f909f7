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

// A destination that got the request and leaves the channel before it replied is no
// longer waited for: an AllReply call to a member that answers and one that got the
// request but will not reply (its handler fails) and then dies returns once the channel
// reports the death, with the other's reply and an error wrapping ErrMemberLeft, not
// ErrTimeout; a FirstReply call to the dead member alone returns at once the same way.
// Before, both waited for their context (a replicated map's Get from a backup that died,
// 15 s in BackupManager).
func TestMemberLeavingEndsCall(t *testing.T) {
	nw := channeltest.NewNetwork()
	caller, fast, mute := newNode(t, nw), newNode(t, nw), newNode(t, nw)
	c := newRPC(t, rpc.Config{Channel: caller.ch, Handler: answer("caller")})
	newRPC(t, rpc.Config{Channel: fast.ch, Handler: answer("fast")})
	got := make(chan struct{}, 1)
	newRPC(t, rpc.Config{Channel: mute.ch, Handler: rpc.HandlerFunc(func(any, channel.Member) (any, error) {
		got <- struct{}{}
		return nil, errors.New("not answering")
	})})
	ctx, cancel := context.WithTimeout(context.Background(), testutil.WaitLimit)
	defer cancel()
	type result struct {
		rs  []rpc.Response
		err error
	}
	done := make(chan result, 1)
	go func() {
		rs, err := c.Call(ctx, []channel.Member{fast.mbr, mute.mbr}, "q", rpc.AllReply, channel.OptAsync)
		done <- result{rs, err}
	}()
	<-got // the mute member holds the request
	select {
	case r := <-done:
		t.Fatalf("AllReply call returned (%v, %v) before the mute member left", replies(r.rs), r.err)
	default:
	}
	nw.Kill(mute.tn)
	r := <-done
	if errors.Is(r.err, rpc.ErrTimeout) || !errors.Is(r.err, rpc.ErrMemberLeft) {
		t.Fatalf("AllReply call with a destination that left: err = %v, want ErrMemberLeft and no ErrTimeout", r.err)
	}
	if got := replies(r.rs); len(got) != 1 || got["fast:q"] != fast.mbr.Port {
		t.Fatalf("responses %v, want the answering member's", got)
	}

	// A FirstReply call whose only destination leaves ends at once, with no responses.
	mute2 := newNode(t, nw)
	testutil.EventuallyTrue(t, testutil.WaitLimit, "caller sees the new member", func() bool {
		_, ok := caller.ch.Member(mute2.mbr.Key())
		return ok
	})
	newRPC(t, rpc.Config{Channel: mute2.ch, Handler: rpc.HandlerFunc(func(any, channel.Member) (any, error) {
		got <- struct{}{}
		return nil, errors.New("not answering")
	})})
	go func() {
		rs, err := c.Call(ctx, []channel.Member{mute2.mbr}, "q", rpc.FirstReply, channel.OptAsync)
		done <- result{rs, err}
	}()
	<-got
	nw.Kill(mute2.tn)
	r = <-done
	if errors.Is(r.err, rpc.ErrTimeout) || !errors.Is(r.err, rpc.ErrMemberLeft) || len(r.rs) != 0 {
		t.Fatalf("FirstReply call to a member that left: %v, %v; want no responses and ErrMemberLeft", r.rs, r.err)
	}
	if ctx.Err() != nil {
		t.Fatal("the calls ended with their context")
	}
}
