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

// optionsFrom records the options of the messages a channel receives from one member.
type optionsFrom struct {
	from channel.Member
	mu   sync.Mutex
	seen []channel.SendOptions
}

func (o *optionsFrom) Accept(m *channel.Message) bool { return m.Source.Key() == o.from.Key() }

func (o *optionsFrom) MessageReceived(m *channel.Message) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.seen = append(o.seen, m.Options)
	return nil
}

func (o *optionsFrom) options() []channel.SendOptions {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]channel.SendOptions(nil), o.seen...)
}

// TestSyncAckRemovedFromRequestsAndReplies: docs/rpc.md says requests are sent with the
// call's options minus OptSyncAck, and replies with ReplyOptions minus OptSyncAck, as
// Java's RpcChannel does. A call with use_ack,sync to a member whose ReplyOptions are
// use_ack,sync too: the request arrives with OptUseAck alone, and so does the reply.
func TestSyncAckRemovedFromRequestsAndReplies(t *testing.T) {
	nw := channeltest.NewNetwork()
	caller, callee := newNode(t, nw), newNode(t, nw)
	requests := &optionsFrom{from: caller.mbr}
	callee.ch.AddMessageListener(requests)
	replies := &optionsFrom{from: callee.mbr}
	caller.ch.AddMessageListener(replies)
	c := newRPC(t, rpc.Config{Channel: caller.ch, Handler: answer("caller")})
	newRPC(t, rpc.Config{Channel: callee.ch, Handler: answer("callee"),
		ReplyOptions: channel.OptUseAck | channel.OptSyncAck})
	ctx, cancel := context.WithTimeout(context.Background(), testutil.WaitLimit)
	defer cancel()
	rs, err := c.Call(ctx, []channel.Member{callee.mbr}, "q", rpc.AllReply, channel.OptUseAck|channel.OptSyncAck)
	if err != nil || len(rs) != 1 || rs[0].Message != "callee:q" {
		t.Fatalf("Call: %v, %v", rs, err)
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "request and reply seen by the recording listeners", func() bool {
		return len(requests.options()) > 0 && len(replies.options()) > 0
	})
	for _, c := range []struct {
		name string
		got  []channel.SendOptions
	}{{"request", requests.options()}, {"reply", replies.options()}} {
		if len(c.got) != 1 || c.got[0] != channel.OptUseAck {
			t.Errorf("%s arrived with options %v, want exactly %v (use_ack without sync)", c.name, c.got, channel.OptUseAck)
		}
	}
}
