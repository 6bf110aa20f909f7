package channel_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
)

// heldStop is an interceptor whose Stop of the sender level hands its
// channel.LifecycleContended to the test and waits until the test releases it.
type heldStop struct {
	channel.InterceptorBase
	contended chan (<-chan struct{})
	release   chan struct{}
}

func (hs *heldStop) Stop(ctx context.Context, svc channel.Service) error {
	if svc&channel.SvcSender != 0 {
		hs.contended <- channel.LifecycleContended(ctx)
		<-hs.release
	}
	return hs.Next().Stop(ctx, svc)
}

// TestLifecycleNotContendedByAnEndedContext: a Start or Stop whose ctx had ended when it
// found another Start or Stop running returns ctx's error without waiting for it, and so
// does not wait for it; it closed the running one's LifecycleContended all the same, so
// that an interceptor's Stop (interceptors.MessageDispatch's, Order's) stopped waiting
// for the callbacks and listeners it waits for, and returned while they still ran, though
// nothing waited for it. LifecycleContended is now closed only by a Start or Stop that
// waits.
func TestLifecycleNotContendedByAnEndedContext(t *testing.T) {
	n := channeltest.NewNetwork().NewNode()
	hs := &heldStop{contended: make(chan (<-chan struct{}), 1), release: make(chan struct{})}
	ch, err := channel.New(channel.Config{Transport: n.Transport(), Membership: n.Membership(),
		Interceptors: []channel.Interceptor{hs}, HeartbeatInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	if err := ch.Start(context.Background(), channel.SvcAll); err != nil {
		t.Fatal(err)
	}
	stopped := make(chan error, 1)
	go func() { stopped <- ch.Stop(context.Background(), channel.SvcAll) }()
	var contended <-chan struct{}
	select {
	case contended = <-hs.contended:
	case <-time.After(testutil.WaitLimit):
		t.Fatal("the interceptor's Stop was not called")
	}
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	if err := ch.Start(ended, channel.SvcAll); !errors.Is(err, context.Canceled) {
		t.Fatalf("Start with an ended ctx while a Stop runs: %v, want context.Canceled", err)
	}
	if err := ch.Stop(ended, channel.SvcAll); !errors.Is(err, context.Canceled) {
		t.Fatalf("Stop with an ended ctx while a Stop runs: %v, want context.Canceled", err)
	}
	select {
	case <-contended:
		close(hs.release)
		<-stopped
		t.Fatal("a Start or Stop with an ended ctx, which did not wait, closed LifecycleContended of the Stop under way")
	default:
	}
	// A Start that waits closes it.
	started := make(chan error, 1)
	go func() { started <- ch.Start(context.Background(), channel.SvcAll) }()
	select {
	case <-contended:
	case <-time.After(testutil.WaitLimit):
		t.Fatal("a waiting Start did not close LifecycleContended")
	}
	close(hs.release)
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
	if err := ch.Stop(context.Background(), channel.SvcAll); err != nil {
		t.Fatal(err)
	}
}
