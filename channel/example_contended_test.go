package channel_test

import (
	"context"
	"fmt"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
)

// callbackRunner runs a callback up the stack when its sender level stops, and its Stop
// waits for that callback, as interceptors.MessageDispatch waits for the OnComplete
// callbacks of the messages it sends: until another Start or Stop of the channel waits
// for it, which may be the callback's own, so that they do not wait for each other.
type callbackRunner struct {
	channel.InterceptorBase
	callback func()
}

func (r *callbackRunner) Stop(ctx context.Context, svc channel.Service) error {
	if svc&channel.SvcSender != 0 && r.callback != nil {
		done := make(chan struct{})
		go func() { defer close(done); r.callback() }()
		select {
		case <-done:
			fmt.Println("stop: the callback returned")
		case <-channel.LifecycleContended(ctx):
			fmt.Println("stop: another Start or Stop waits, the callback is not waited for")
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return r.Next().Stop(ctx, svc)
}

func ExampleLifecycleContended() {
	n := channeltest.NewNetwork().NewNode()
	r := &callbackRunner{}
	ch, err := channel.New(channel.Config{Transport: n.Transport(), Membership: n.Membership(),
		Interceptors: []channel.Interceptor{r}, HeartbeatInterval: -1})
	if err != nil {
		fmt.Println(err)
		return
	}
	returned := make(chan struct{})
	r.callback = func() { // restarts the channel: its Start waits for the Stop under way
		defer close(returned)
		if err := ch.Start(context.Background(), channel.SvcAll); err != nil {
			fmt.Println(err)
		}
	}
	if err := ch.Start(context.Background(), channel.SvcAll); err != nil {
		fmt.Println(err)
		return
	}
	if err := ch.Stop(context.Background(), channel.SvcAll); err != nil {
		fmt.Println(err)
	}
	<-returned
	r.callback = nil
	fmt.Println("restarted:", ch.Started() == channel.SvcAll)
	if err := ch.Stop(context.Background(), channel.SvcAll); err != nil {
		fmt.Println(err)
	}
	// Output:
	// stop: another Start or Stop waits, the callback is not waited for
	// restarted: true
}
