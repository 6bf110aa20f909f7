package rpc

import (
	"bytes"
	"context"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/jserial"
	"github.com/gotribes/tribes/membership/static"
)

// ackWait passes its first send on, then holds it until its context ends and fails it
// with the context's error: a reply written whole whose ACK a closing rpc.Channel
// stopped waiting for (transport/nio's round trip, cancelled in its ACK read).
type ackWait struct {
	channel.InterceptorBase
	armed, held atomic.Bool
}

func (a *ackWait) SendMessage(ctx context.Context, to []channel.Member, msg *channel.Message) error {
	if !a.armed.CompareAndSwap(true, false) {
		return a.Next().SendMessage(ctx, to, msg)
	}
	if err := a.Next().SendMessage(ctx, to, msg); err != nil {
		return err
	}
	a.held.Store(true)
	<-ctx.Done()
	return ctx.Err()
}

// repliesSeen decodes the RpcMessages a caller's channel receives.
type repliesSeen struct {
	mu   sync.Mutex
	msgs []*message
}

func (r *repliesSeen) Accept(m *channel.Message) bool { return isMessage(m.Data) }

func (r *repliesSeen) MessageReceived(m *channel.Message) error {
	msg, err := unmarshal(m.Data, jserial.DecoderConfig{})
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.msgs = append(r.msgs, msg)
	r.mu.Unlock()
	return nil
}

func (r *repliesSeen) of(uuid []byte) (replies, declines int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, m := range r.msgs {
		switch {
		case !bytes.Equal(m.uuid, uuid) || !m.reply:
		case m.noChannel:
			declines++
		default:
			replies++
		}
	}
	return replies, declines
}

// TestCloseDoesNotDeclineAReplyWaitingForItsACK: a reply to a non-member sent with
// ReplyOptions that wait for an ACK was written whole, and only its ACK was still awaited
// when the rpc.Channel's Close cancelled it. The caller has the reply: a
// NoRpcChannelReply after it would be a second answer from one destination, which Java's
// RpcCollector counts as one destination less on top of the response (an AllReply call
// to two members then completes on this one's reply alone, the other's reply left over).
// Before, Close sent the NoRpcChannelReply after any reply it cancelled.
func TestCloseDoesNotDeclineAReplyWaitingForItsACK(t *testing.T) {
	nw := channeltest.NewNetwork()
	newChannel := func(is ...channel.Interceptor) *channel.Channel {
		ch, err := channel.New(channel.Config{Transport: nw.NewNode().Transport(), Membership: static.New(),
			HeartbeatInterval: -1, Interceptors: is, AcceptNonMembers: true})
		if err != nil {
			t.Fatal(err)
		}
		channeltest.Start(t, ch)
		return ch
	}
	hold := &ackWait{}
	callee := newChannel(hold)
	caller := newChannel()
	seen := &repliesSeen{}
	caller.AddMessageListener(seen)
	id := []byte("acked")
	srv, err := New(Config{Channel: callee, ID: id, AcceptNonMembers: true, ReplyOptions: channel.OptUseAck,
		Handler: HandlerFunc(func(any, channel.Member) (any, error) { return "answer", nil })})
	if err != nil {
		t.Fatal(err)
	}
	req, err := (&message{uuid: []byte("call-1"), rpcID: id, payload: "q"}).marshal()
	if err != nil {
		t.Fatal(err)
	}
	hold.armed.Store(true)
	ctx, cancel := context.WithTimeout(context.Background(), testutil.WaitLimit)
	defer cancel()
	if err := caller.SendMessage(ctx, []channel.Member{callee.LocalMember()}, &channel.Message{Data: req}); err != nil {
		t.Fatal(err)
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "the reply written, its ACK awaited", hold.held.Load)
	if err := srv.Close(ctx); err != nil { // waits for the reply's goroutine, its late send included
		t.Fatal(err)
	}
	if n := srv.Stats().NonMemberReplyErrors; n != 1 {
		t.Fatalf("NonMemberReplyErrors %d, want 1: the reply's ACK wait cancelled by Close", n)
	}
	if replies, declines := seen.of([]byte("call-1")); replies != 1 || declines != 0 {
		t.Errorf("the caller got %d replies and %d NoRpcChannelReplies for its request; want the reply alone", replies, declines)
	}
}
