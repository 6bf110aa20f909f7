package channel_test

import (
	"context"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
)

// contendedInterceptor's Stop waits until another Start or Stop waits for it
// (channel.LifecycleContended), as an interceptor waiting for a callback that stops the
// channel does, or until release is closed.
type contendedInterceptor struct {
	channel.InterceptorBase
	entered chan struct{}
	release chan struct{}
	woken   chan bool // whether the Stop's wait ended by contention
}

func (ci *contendedInterceptor) Stop(ctx context.Context, svc channel.Service) error {
	if svc&channel.SvcSender != 0 {
		select {
		case ci.entered <- struct{}{}:
		default:
		}
		select {
		case <-channel.LifecycleContended(ctx):
			ci.woken <- true
		case <-ci.release:
			ci.woken <- false
		}
	}
	return ci.Next().Stop(ctx, svc)
}

// TestLifecycleContended: the ctx Channel.Stop passes down the chain tells an
// interceptor's Stop when another Start or Stop waits for it (here a Start, as a callback
// that restarts the channel), so that it stops waiting for what may be that caller; a ctx
// that comes from no Start or Stop has no such signal.
func TestLifecycleContended(t *testing.T) {
	if c := channel.LifecycleContended(context.Background()); c != nil {
		t.Fatal("LifecycleContended of a ctx from no Start or Stop is not nil")
	}
	n := channeltest.NewNetwork().NewNode()
	ci := &contendedInterceptor{entered: make(chan struct{}, 1), release: make(chan struct{}), woken: make(chan bool, 1)}
	ch, err := channel.New(channel.Config{Transport: n.Transport(), Membership: n.Membership(),
		Interceptors: []channel.Interceptor{ci}, HeartbeatInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	if err := ch.Start(context.Background(), channel.SvcAll); err != nil {
		t.Fatal(err)
	}
	stopped := make(chan error, 1)
	go func() { stopped <- ch.Stop(context.Background(), channel.SvcAll) }()
	select {
	case <-ci.entered:
	case <-time.After(testutil.WaitLimit):
		t.Fatal("the interceptor's Stop was not called")
	}
	started := make(chan error, 1)
	go func() { started <- ch.Start(context.Background(), channel.SvcAll) }()
	select {
	case woken := <-ci.woken:
		if !woken {
			t.Fatal("the interceptor's Stop was released, not told of the waiting Start")
		}
	case <-time.After(testutil.WaitLimit):
		close(ci.release)
		t.Fatal("the interceptor's Stop was not told that a Start waits for it")
	}
	for what, c := range map[string]chan error{"Stop": stopped, "Start": started} {
		select {
		case err := <-c:
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
		case <-time.After(testutil.WaitLimit):
			t.Fatalf("%s did not return", what)
		}
	}
	close(ci.release) // the next Stop's wait ends at once
	if err := ch.Stop(context.Background(), channel.SvcAll); err != nil {
		t.Fatal(err)
	}
}
