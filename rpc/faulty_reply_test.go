package rpc_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/interceptors"
	"github.com/gotribes/tribes/rpc"
)

// ackLost passes every message down (it is delivered) and then reports the send to
// victim as failed with ErrAckTimeout: what a real transport reports when a member got
// the request but its ACK came too late.
type ackLost struct {
	channel.InterceptorBase
	victim int32
}

func (a *ackLost) SendMessage(ctx context.Context, to []channel.Member, msg *channel.Message) error {
	if err := a.Next().SendMessage(ctx, to, msg); err != nil {
		return err
	}
	for _, m := range to {
		if m.Port == a.victim {
			return channel.NewSendError(msg.ID, []channel.FaultyMember{{Member: m,
				Err: fmt.Errorf("%w: simulated late ACK", channel.ErrAckTimeout)}})
		}
	}
	return nil
}

// An AllReply call to X and Y: X gets the request and replies, but the send reports X
// faulty (its ACK timed out). X's reply counts as its reply and X no longer as failed
// (before, it counted as both, and the call completed with X's reply alone although Y,
// neither faulty nor answering, never replied). The call waits for Y (here: until the
// context ends, since Y never replies).
func TestFaultyMemberReplyDoesNotCompleteAllReply(t *testing.T) {
	nw := channeltest.NewNetwork()
	x, y := newNode(t, nw), newNode(t, nw)
	lossy := &ackLost{victim: x.tn.Port()}
	d, err := interceptors.NewMessageDispatch(interceptors.DispatchConfig{})
	if err != nil {
		t.Fatal(err)
	}
	tn := nw.NewNode()
	callerCh, err := channel.New(channel.Config{Transport: tn.Transport(), Membership: tn.Membership(),
		Interceptors: []channel.Interceptor{lossy, d}, HeartbeatInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	channeltest.Start(t, callerCh)
	c := newRPC(t, rpc.Config{Channel: callerCh, Handler: answer("caller")})
	newRPC(t, rpc.Config{Channel: x.ch, Handler: answer("x")})
	// Y has the rpc id but does not answer (a handler error sends no reply).
	newRPC(t, rpc.Config{Channel: y.ch, Handler: rpc.HandlerFunc(func(any, channel.Member) (any, error) {
		return nil, errors.New("not answering")
	})})

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	rs, err := c.Call(ctx, []channel.Member{x.mbr, y.mbr}, "q", rpc.AllReply, 0)
	if f := channel.FaultyMembers(err); len(f) != 1 || f[0].Member.Port != x.mbr.Port {
		t.Fatalf("faulty members %v (err %v), want X", f, err)
	}
	if !errors.Is(err, rpc.ErrTimeout) {
		t.Fatalf("AllReply call returned as complete (err = %v, responses %v) although Y, "+
			"neither faulty nor answered, never replied; want ErrTimeout", err, replies(rs))
	}
}
