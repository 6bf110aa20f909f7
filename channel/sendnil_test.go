package channel_test

import (
	"context"
	"errors"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
)

// TestSendMessageNil: SendMessage with a nil *Message (a message variable left unset) is
// refused with an error wrapping ErrInvalidConfig and counted as a failed send, on a
// started and on a stopped channel, to given members and to all; it dereferenced the nil
// message and panicked.
func TestSendMessageNil(t *testing.T) {
	ctx := context.Background()
	nw := channeltest.NewNetwork()
	var chans []*channel.Channel
	for range 2 {
		n := nw.NewNode()
		ch, err := channel.New(channel.Config{Transport: n.Transport(), Membership: n.Membership()})
		if err != nil {
			t.Fatal(err)
		}
		chans = append(chans, ch)
	}
	send := func(to []channel.Member) (err error) {
		defer func() {
			if p := recover(); p != nil {
				t.Fatalf("SendMessage(nil message) to %d member(s) panicked: %v", len(to), p)
			}
		}()
		return chans[0].SendMessage(ctx, to, nil)
	}
	if err := send(nil); !errors.Is(err, channel.ErrInvalidConfig) {
		t.Fatalf("SendMessage(nil) on a stopped channel: %v, want ErrInvalidConfig", err)
	}
	for _, ch := range chans {
		if err := ch.Start(ctx, channel.SvcAll); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = ch.Stop(context.Background(), channel.SvcAll) })
	}
	if err := chans[0].WaitForMembers(ctx, 1); err != nil {
		t.Fatal(err)
	}
	failures := chans[0].Stats().SendFailures
	for _, to := range [][]channel.Member{nil, chans[0].Members()} {
		if err := send(to); !errors.Is(err, channel.ErrInvalidConfig) {
			t.Fatalf("SendMessage(nil) to %d member(s): %v, want ErrInvalidConfig", len(to), err)
		}
	}
	if got := chans[0].Stats().SendFailures - failures; got != 2 {
		t.Fatalf("%d failed sends counted, want 2", got)
	}
}
