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

// gate holds every message sent through it (with hold set, those to a member hold
// names) until a token arrives on release, its send's context ends (counted in ended),
// or open is closed.
type gate struct {
	channel.InterceptorBase
	release, open chan struct{}
	hold          func(to []channel.Member) bool
	ended         atomic.Int32
	entered       atomic.Int32 // sends held
	stubborn      bool         // ignore the send's context, as a transport blocked in a connect may
}

// calleeOn starts, on a new node of nw, a channel with a static membership listing
// nobody, no heartbeat and the interceptors is, taking every sender's messages when open
// (channel.Config.AcceptNonMembers).
func calleeOn(t *testing.T, nw *channeltest.Network, open bool, is ...channel.Interceptor) *channel.Channel {
	t.Helper()
	ch, err := channel.New(channel.Config{Transport: nw.NewNode().Transport(), Membership: static.New(),
		HeartbeatInterval: -1, Interceptors: is, AcceptNonMembers: open})
	if err != nil {
		t.Fatal(err)
	}
	channeltest.Start(t, ch)
	return ch
}

func (g *gate) SendMessage(ctx context.Context, to []channel.Member, msg *channel.Message) error {
	if g.hold != nil && !g.hold(to) {
		return g.Next().SendMessage(ctx, to, msg)
	}
	g.entered.Add(1)
	done := ctx.Done()
	if g.stubborn {
		done = nil
	}
	select {
	case <-g.release:
	case <-g.open:
	case <-done:
		g.ended.Add(1)
		return ctx.Err()
	}
	return g.Next().SendMessage(ctx, to, msg)
}

// TestNonMemberRepliesOffTheReceiver: the reply to a non-member's request is sent off the
// receiving goroutine (its address is the request's to write, and a send to one that does
// not answer would hold the receiver for the transport's timeout), at most
// rpc.MaxNonMemberReplies at once; one more cancels the oldest, counted. Close cancels
// those in flight and waits for them.
func TestNonMemberRepliesOffTheReceiver(t *testing.T) {
	nw := channeltest.NewNetwork()
	caller := newNode(t, nw)
	g := &gate{release: make(chan struct{}), open: make(chan struct{})}
	callee := calleeOn(t, nw, false, g)
	t.Cleanup(func() { close(g.open) }) // before the channel stops, should a reply hold its receiver
	id := []byte("open")
	srv, err := rpc.New(rpc.Config{Channel: callee, ID: id, Handler: answer("callee"), AcceptNonMembers: true})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close(context.Background())
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
	if s := srv.Stats(); s.NonMemberReplies != rpc.MaxNonMemberReplies+extra || s.NonMemberRepliesCancelled != extra ||
		s.NonMemberRepliesDropped != 0 {
		t.Fatalf("stats %+v; want %d replies, the %d oldest cancelled, none dropped", s, rpc.MaxNonMemberReplies+extra, extra)
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "the cancelled replies ended", func() bool { return g.ended.Load() == extra })
	g.release <- struct{}{} // one reply goes out, and frees its place
	testutil.EventuallyTrue(t, testutil.WaitLimit, "the released reply received", func() bool { return leftOver.Load() == 1 })
	done := make(chan struct{})
	go func() {
		_ = srv.Close(context.Background())
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(testutil.WaitLimit):
		t.Fatal("Close did not end the replies in flight")
	}
	if s := srv.Stats(); s.NonMemberReplyErrors != rpc.MaxNonMemberReplies-1 {
		t.Fatalf("stats after Close %+v; want the %d replies in flight cancelled", s, rpc.MaxNonMemberReplies-1)
	}
}

// A stranger's requests name the address their replies go to. Sent to addresses that do
// not answer, each held one of the rpc.MaxNonMemberReplies places for the transport's
// timeout, and a stranger that kept them all in flight had every reply to a joining node
// (a non-member too, until its START is handled) dropped: the joiner's calls timed out
// and were repeated while the stranger kept on. Now a new reply cancels the oldest in
// flight, and the joiner's call gets its answer while the stranger's replies hang.
func TestStrangerCannotCrowdOutRepliesToJoiners(t *testing.T) {
	nw := channeltest.NewNetwork()
	stranger, joiner := newNode(t, nw), newNode(t, nw)
	// Replies to the stranger hang, as sends to an address that does not answer do.
	g := &gate{release: make(chan struct{}), open: make(chan struct{}), hold: func(to []channel.Member) bool {
		return len(to) == 1 && to[0].Equal(stranger.ch.LocalMember())
	}}
	callee := calleeOn(t, nw, false, g)
	t.Cleanup(func() { close(g.open) })
	id := []byte("join")
	srv, err := rpc.New(rpc.Config{Channel: callee, ID: id, Handler: answer("callee"), AcceptNonMembers: true})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close(context.Background())
	s := newRPC(t, rpc.Config{Channel: stranger.ch, ID: id, Handler: answer("stranger"), AcceptNonMembers: true})
	j := newRPC(t, rpc.Config{Channel: joiner.ch, ID: id, Handler: answer("joiner"), AcceptNonMembers: true})
	to := []channel.Member{callee.LocalMember()}
	ctx, cancel := context.WithTimeout(context.Background(), testutil.WaitLimit)
	defer cancel()
	for range rpc.MaxNonMemberReplies {
		// Acknowledged once the callee handled the request and its reply is in flight.
		if _, err := s.Call(ctx, to, "q", rpc.NoReply, channel.OptUseAck|channel.OptSyncAck); err != nil {
			t.Fatalf("stranger's request: %v", err)
		}
	}
	rs, err := j.Call(ctx, to, "hello", rpc.FirstReply, 0)
	if err != nil || len(rs) != 1 || rs[0].Message != "callee:hello" {
		t.Fatalf("the joiner's call while a stranger keeps %d replies hanging: %v, %v (callee's stats %+v)",
			rpc.MaxNonMemberReplies, rs, err, srv.Stats())
	}
}

// Cancelled replies whose sends do not end at once still hold their goroutines: while
// rpc.MaxNonMemberReplies of them are ending, a further reply is dropped instead, so that
// at most twice rpc.MaxNonMemberReplies goroutines send replies to non-members.
func TestStrangerRepliesGoroutinesBounded(t *testing.T) {
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
	id := []byte("bounded")
	srv, err := rpc.New(rpc.Config{Channel: callee, ID: id, Handler: answer("callee"), AcceptNonMembers: true})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close(context.Background())
	c := newRPC(t, rpc.Config{Channel: caller.ch, ID: id, Handler: answer("caller"), AcceptNonMembers: true})
	to := []channel.Member{callee.LocalMember()}
	ctx, cancel := context.WithTimeout(context.Background(), testutil.WaitLimit)
	defer cancel()
	for range 2*rpc.MaxNonMemberReplies + 1 {
		if _, err := c.Call(ctx, to, "q", rpc.NoReply, channel.OptUseAck|channel.OptSyncAck); err != nil {
			t.Fatalf("request: %v", err)
		}
	}
	if s := srv.Stats(); s.NonMemberReplies != 2*rpc.MaxNonMemberReplies || s.NonMemberRepliesCancelled != rpc.MaxNonMemberReplies ||
		s.NonMemberRepliesDropped != 1 {
		t.Fatalf("stats %+v; want %d replies, %d of them cancelled and still ending, 1 dropped", s,
			2*rpc.MaxNonMemberReplies, rpc.MaxNonMemberReplies)
	}
	close(g.open)
	opened = true
	// Once the cancelled ones ended, there is room again.
	testutil.EventuallyTrue(t, testutil.WaitLimit, "room for a reply", func() bool {
		if _, err := c.Call(ctx, to, "q", rpc.NoReply, channel.OptUseAck|channel.OptSyncAck); err != nil {
			t.Fatalf("request: %v", err)
		}
		return srv.Stats().NonMemberReplies > 2*rpc.MaxNonMemberReplies
	})
}
