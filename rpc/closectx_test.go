package rpc_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/rpc"
)

// TestCloseHonoursItsContext: Close waited for the goroutines of the replies to
// non-members in flight with no context, so a reply whose send ignored its cancellation
// (a transport blocked in a connect) held Close for as long. Close now takes a context:
// it returns an error wrapping ctx.Err() when ctx ends first, the reply left to end; a
// later Close waits for it again, and returns nil once it ended.
func TestCloseHonoursItsContext(t *testing.T) {
	nw := channeltest.NewNetwork()
	caller := newNode(t, nw)
	g := &gate{release: make(chan struct{}), open: make(chan struct{}), stubborn: true}
	callee := calleeOn(t, nw, false, g)
	opened := false
	t.Cleanup(func() {
		if !opened {
			close(g.open)
		}
	})
	id := []byte("close")
	srv, err := rpc.New(rpc.Config{Channel: callee, ID: id, Handler: answer("callee"), AcceptNonMembers: true})
	if err != nil {
		t.Fatal(err)
	}
	c := newRPC(t, rpc.Config{Channel: caller.ch, ID: id, Handler: answer("caller"), AcceptNonMembers: true})
	ctx, cancel := context.WithTimeout(context.Background(), testutil.WaitLimit)
	defer cancel()
	// Acknowledged once the callee took the request: its reply, to a non-member, is then
	// in flight, held by the gate whatever its context says.
	if _, err := c.Call(ctx, []channel.Member{callee.LocalMember()}, "q", rpc.NoReply,
		channel.OptUseAck|channel.OptSyncAck); err != nil {
		t.Fatal(err)
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "the reply in flight", func() bool {
		return srv.Stats().NonMemberReplies == 1
	})
	closeWithin := func(d time.Duration) error {
		cctx, cancel := context.WithTimeout(context.Background(), d)
		defer cancel()
		closed := make(chan error, 1)
		go func() { closed <- srv.Close(cctx) }()
		select {
		case err := <-closed:
			return err
		case <-time.After(testutil.WaitLimit):
			opened = true
			close(g.open)
			<-closed
			t.Fatalf("Close with a %v context still waits for a held reply after %v", d, testutil.WaitLimit)
			return nil
		}
	}
	if err := closeWithin(50 * time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Close with a reply held: %v, want context.DeadlineExceeded", err)
	}
	if err := closeWithin(50 * time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a later Close with the reply still held: %v, want context.DeadlineExceeded", err)
	}
	opened = true
	close(g.open)
	if err := closeWithin(testutil.WaitLimit); err != nil {
		t.Fatalf("a later Close once the reply ended: %v", err)
	}
}
