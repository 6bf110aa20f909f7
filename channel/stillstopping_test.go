package channel_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
)

// leftStoppingInterceptor's Stop of the receiver says it left the level stopping
// (channel.StillStopping) as long as left is set, and counts its calls.
type leftStoppingInterceptor struct {
	channel.InterceptorBase
	left  atomic.Bool
	stops atomic.Int32
}

func (li *leftStoppingInterceptor) Stop(ctx context.Context, svc channel.Service) error {
	if svc&channel.SvcReceiver != 0 {
		li.stops.Add(1)
		if li.left.Load() {
			channel.StillStopping(ctx, channel.SvcReceiver)
		}
	}
	return li.Next().Stop(ctx, svc)
}

// TestStillStopping: a level an interceptor's Stop said it left stopping, though that Stop
// returned nil, has the channel's next Stop call the chain's Stop again for it, until one
// returns without saying so; then stopping it is a no-op. A ctx from no Start or Stop is
// ignored.
func TestStillStopping(t *testing.T) {
	channel.StillStopping(context.Background(), channel.SvcAll) // nothing to tell: no effect
	n := channeltest.NewNetwork().NewNode()
	li := &leftStoppingInterceptor{}
	ch, err := channel.New(channel.Config{Transport: n.Transport(), Membership: n.Membership(),
		Interceptors: []channel.Interceptor{li}, HeartbeatInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	if err := ch.Start(context.Background(), channel.SvcAll); err != nil {
		t.Fatal(err)
	}
	li.left.Store(true)
	for want := int32(1); want <= 2; want++ { // the Stop, then a Stop again: both reach it
		if err := ch.Stop(context.Background(), channel.SvcAll); err != nil {
			t.Fatal(err)
		}
		if got := li.stops.Load(); got != want {
			t.Fatalf("the interceptor's Stop called %d times, want %d", got, want)
		}
	}
	li.left.Store(false)
	for range 2 { // reached once more, then the level is stopped
		if err := ch.Stop(context.Background(), channel.SvcAll); err != nil {
			t.Fatal(err)
		}
	}
	if got := li.stops.Load(); got != 3 {
		t.Fatalf("the interceptor's Stop called %d times, want 3", got)
	}
	if got := ch.Started(); got != 0 {
		t.Fatalf("running %v", got)
	}
}

// failedStartLeftStopping's Start says it left the receiver stopping (an undo of its own
// still running in the background, as the TCPFailureDetector's) and fails, while fail is
// set; its Stop of the receiver is counted.
type failedStartLeftStopping struct {
	channel.InterceptorBase
	fail  atomic.Bool
	stops atomic.Int32
}

func (f *failedStartLeftStopping) Start(ctx context.Context, svc channel.Service) error {
	if f.fail.Load() {
		channel.StillStopping(ctx, channel.SvcReceiver)
		return errors.New("start failed, its undo still running")
	}
	return f.Next().Start(ctx, svc)
}

func (f *failedStartLeftStopping) Stop(ctx context.Context, svc channel.Service) error {
	if svc&channel.SvcReceiver != 0 {
		f.stops.Add(1)
	}
	return f.Next().Stop(ctx, svc)
}

// TestStillStoppingFromAFailedStart: a level an interceptor said it left stopping from a
// failed Start (its undo) is left stopping as after a Stop's: the next Stop calls the
// chain's Stop for it once, and the one after is a no-op. The mark was lost before (the
// failed Start's own stop of the levels it started reset it, or nothing read it).
func TestStillStoppingFromAFailedStart(t *testing.T) {
	n := channeltest.NewNetwork().NewNode()
	f := &failedStartLeftStopping{}
	f.fail.Store(true)
	ch, err := channel.New(channel.Config{Transport: n.Transport(), Membership: n.Membership(),
		Interceptors: []channel.Interceptor{f}, HeartbeatInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	if err := ch.Start(context.Background(), channel.SvcAll); err == nil {
		t.Fatal("Start succeeded")
	}
	for range 2 {
		if err := ch.Stop(context.Background(), channel.SvcAll); err != nil {
			t.Fatal(err)
		}
	}
	if got := f.stops.Load(); got != 1 {
		t.Fatalf("the interceptor's Stop called %d times after the failed Start, want 1", got)
	}
	f.fail.Store(false)
	if err := ch.Start(context.Background(), channel.SvcAll); err != nil {
		t.Fatal(err)
	}
	if err := ch.Stop(context.Background(), channel.SvcAll); err != nil {
		t.Fatal(err)
	}
}
