package rpc_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/membership/static"
	"github.com/gotribes/tribes/rpc"
)

// gate holds every message sent through it until a token arrives on release, its send's
// context ends, or open is closed.
type gate struct {
	channel.InterceptorBase
	release, open chan struct{}
}

func (g *gate) SendMessage(ctx context.Context, to []channel.Member, msg *channel.Message) error {
	select {
	case <-g.release:
	case <-g.open:
	case <-ctx.Done():
		return ctx.Err()
	}
	return g.Next().SendMessage(ctx, to, msg)
}

// TestNonMemberRepliesOffTheReceiver: the reply to a non-member's request is sent off the
// receiving goroutine (its address is the request's to write, and a send to one that does
// not answer would hold the receiver for the transport's timeout), at most
// rpc.MaxNonMemberReplies at once; beyond, it is dropped and counted. Close cancels those
// in flight and waits for them.
func TestNonMemberRepliesOffTheReceiver(t *testing.T) {
	nw := channeltest.NewNetwork()
	caller := newNode(t, nw)
	tn := nw.NewNode()
	g := &gate{release: make(chan struct{}), open: make(chan struct{})}
	callee, err := channel.New(channel.Config{Transport: tn.Transport(), Membership: static.New(), HeartbeatInterval: -1,
		Interceptors: []channel.Interceptor{g}})
	if err != nil {
		t.Fatal(err)
	}
	channeltest.Start(t, callee)
	t.Cleanup(func() { close(g.open) }) // before the channel stops, should a reply hold its receiver
	id := []byte("open")
	srv, err := rpc.New(rpc.Config{Channel: callee, ID: id, Handler: answer("callee"), AcceptNonMembers: true})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	var leftOver atomic.Int32
	c := newRPC(t, rpc.Config{Channel: caller.ch, ID: id, Handler: answer("caller"), AcceptNonMembers: true,
		LeftOver: func(any, channel.Member) { leftOver.Add(1) }})
	to := []channel.Member{callee.LocalMember()}
	ctx, cancel := context.WithTimeout(context.Background(), testutil.WaitLimit)
	defer cancel()
	request := func() {
		t.Helper()
		// A synchronized ACK comes once the callee's receiving goroutine is done with the
		// request: each returns while the replies are held.
		errc := make(chan error, 1)
		go func() {
			_, err := c.Call(ctx, to, "q", rpc.NoReply, channel.OptUseAck|channel.OptSyncAck)
			errc <- err
		}()
		select {
		case err := <-errc:
			if err != nil {
				t.Fatalf("request: %v", err)
			}
		case <-time.After(testutil.WaitLimit):
			t.Fatal("a request still unacknowledged: its reply holds the callee's receiving goroutine")
		}
	}
	const extra = 4
	for range rpc.MaxNonMemberReplies + extra {
		request()
	}
	if s := srv.Stats(); s.NonMemberReplies != rpc.MaxNonMemberReplies || s.NonMemberRepliesDropped != extra {
		t.Fatalf("stats %+v; want %d replies in flight, %d dropped", s, rpc.MaxNonMemberReplies, extra)
	}
	g.release <- struct{}{} // one reply goes out, and frees its place
	testutil.EventuallyTrue(t, testutil.WaitLimit, "the released reply received", func() bool { return leftOver.Load() == 1 })
	testutil.EventuallyTrue(t, testutil.WaitLimit, "a place free", func() bool {
		request()
		return srv.Stats().NonMemberReplies == rpc.MaxNonMemberReplies+1
	})
	done := make(chan struct{})
	go func() {
		_ = srv.Close()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(testutil.WaitLimit):
		t.Fatal("Close did not end the replies in flight")
	}
	if s := srv.Stats(); s.NonMemberReplyErrors != rpc.MaxNonMemberReplies {
		t.Fatalf("stats after Close %+v; want the %d replies in flight cancelled", s, rpc.MaxNonMemberReplies)
	}
}
