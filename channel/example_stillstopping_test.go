package channel_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
)

// backgroundDrainer's first Stop of the receiver leaves a drain running in the background
// and says so (channel.StillStopping); the channel's next Stop calls it again, and that
// one waits for the drain. The channel serialises Stop calls, so drained needs no lock.
type backgroundDrainer struct {
	channel.InterceptorBase
	release chan struct{} // closed to let the drain end
	drained chan struct{} // closed when the drain ended; nil before the first Stop
}

func (d *backgroundDrainer) Stop(ctx context.Context, svc channel.Service) error {
	err := d.Next().Stop(ctx, svc)
	if svc&channel.SvcReceiver == 0 {
		return err
	}
	if d.drained == nil {
		drained, release := make(chan struct{}), d.release
		d.drained = drained
		go func() { defer close(drained); <-release }()
		fmt.Println("stop: draining in the background")
		channel.StillStopping(ctx, channel.SvcReceiver)
		return err
	}
	select {
	case <-d.drained:
		fmt.Println("stop again: drained")
		return err
	case <-ctx.Done(): // an error once ctx ended: the level is still left stopping
		return errors.Join(err, ctx.Err())
	}
}

func ExampleStillStopping() {
	n := channeltest.NewNetwork().NewNode()
	d := &backgroundDrainer{release: make(chan struct{})}
	ch, err := channel.New(channel.Config{Transport: n.Transport(), Membership: n.Membership(),
		Interceptors: []channel.Interceptor{d}, HeartbeatInterval: -1})
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := ch.Start(context.Background(), channel.SvcAll); err != nil {
		fmt.Println(err)
		return
	}
	if err := ch.Stop(context.Background(), channel.SvcAll); err != nil {
		fmt.Println(err)
	}
	fmt.Println("running:", ch.Started())
	close(d.release)
	for range 2 { // the first calls the interceptor's Stop again; the second finds nothing to stop
		if err := ch.Stop(context.Background(), channel.SvcAll); err != nil {
			fmt.Println(err)
		}
	}
	// Output:
	// stop: draining in the background
	// running: none
	// stop again: drained
}
