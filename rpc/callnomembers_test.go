package rpc_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/rpc"
)

// TestCallToAllBeforeStartSaysNotStarted: a Call to every member (to empty) on a channel
// not started yet, or stopped, returned channel.ErrNoMembers, blaming the empty group,
// where channel.Channel.Send says that the channel is not started; it now returns an error
// wrapping channel.ErrNotStarted, as Send does. On the running channel with no member
// listed yet it wraps channel.ErrNoMembers and names WaitForMembers, as Send's error does.
func TestCallToAllBeforeStartSaysNotStarted(t *testing.T) {
	ctx := context.Background()
	n := channeltest.NewNetwork().NewNode()
	ch, err := channel.New(channel.Config{Transport: n.Transport(), Membership: n.Membership(), HeartbeatInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	c := newRPC(t, rpc.Config{Channel: ch, Handler: answer("x")})
	call := func() error {
		_, err := c.Call(ctx, nil, "x", rpc.AllReply, channel.OptUseAck)
		return err
	}
	if err := call(); !errors.Is(err, channel.ErrNotStarted) || errors.Is(err, channel.ErrNoMembers) {
		t.Fatalf("Call to all before Start: %v, want ErrNotStarted", err)
	}
	if err := ch.Start(ctx, channel.SvcAll); err != nil {
		t.Fatal(err)
	}
	err = call()
	if !errors.Is(err, channel.ErrNoMembers) || !strings.Contains(err.Error(), "WaitForMembers") {
		t.Fatalf("Call to all, started, alone: %v, want ErrNoMembers naming WaitForMembers", err)
	}
	if err := ch.Stop(ctx, channel.SvcAll); err != nil {
		t.Fatal(err)
	}
	if err := call(); !errors.Is(err, channel.ErrNotStarted) {
		t.Fatalf("Call to all after Stop: %v, want ErrNotStarted", err)
	}
}
