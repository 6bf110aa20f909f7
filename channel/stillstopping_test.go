package channel_test

import (
	"context"
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
