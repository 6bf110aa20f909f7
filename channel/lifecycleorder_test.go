package channel_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
)

// heldStopInterceptor's first Stop of the sender waits until release is closed, whatever
// else happens, holding the channel's lifecycle.
type heldStopInterceptor struct {
	channel.InterceptorBase
	held    atomic.Bool
	entered chan struct{}
	release chan struct{}
}

func (hi *heldStopInterceptor) Stop(ctx context.Context, svc channel.Service) error {
	if svc&channel.SvcSender != 0 && hi.held.CompareAndSwap(false, true) {
		close(hi.entered)
		<-hi.release
	}
	return hi.Next().Stop(ctx, svc)
}

// lifecycleWaiters returns how many goroutines wait for a channel's lifecycle.
func lifecycleWaiters() int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	return bytes.Count(buf, []byte("channel.(*Channel).lock("))
}

// TestLifecycleWaitersServedInOrder: Start and Stop calls waiting for the lifecycle (here
// behind a Stop held in an interceptor) all woke when it was released and raced for it,
// so that a Start, a Stop and a Start issued in that order from three goroutines could
// run in another: the channel ended stopped, or a Start found it started and returned
// ErrAlreadyStarted, though the last call issued was a Start of a stopped channel. They
// are now served in the order they came: each returns nil and the channel ends running.
func TestLifecycleWaitersServedInOrder(t *testing.T) {
	for round := range 5 {
		n := channeltest.NewNetwork().NewNode()
		hi := &heldStopInterceptor{entered: make(chan struct{}), release: make(chan struct{})}
		ch, err := channel.New(channel.Config{Transport: n.Transport(), Membership: n.Membership(),
			Interceptors: []channel.Interceptor{hi}, HeartbeatInterval: -1})
		if err != nil {
			t.Fatal(err)
		}
		if err := ch.Start(context.Background(), channel.SvcAll); err != nil {
			t.Fatal(err)
		}
		held := make(chan error, 1)
		go func() { held <- ch.Stop(context.Background(), channel.SvcAll) }()
		<-hi.entered
		ops := []struct {
			name string
			call func(context.Context, channel.Service) error
		}{{"Start", ch.Start}, {"Stop", ch.Stop}, {"Start", ch.Start}}
		results := make([]chan error, len(ops))
		for i, op := range ops {
			results[i] = make(chan error, 1)
			go func() { results[i] <- op.call(context.Background(), channel.SvcAll) }()
			// Issued in order: each waits for the lifecycle before the next is made.
			testutil.EventuallyTrue(t, testutil.WaitLimit, fmt.Sprintf("%s #%d waiting", op.name, i+1), func() bool {
				return lifecycleWaiters() == i+1
			})
		}
		close(hi.release)
		if err := <-held; err != nil {
			t.Fatal(err)
		}
		for i, op := range ops {
			select {
			case err := <-results[i]:
				if err != nil {
					t.Errorf("round %d: %s #%d: %v (served out of order: ErrAlreadyStarted %v)",
						round, op.name, i+1, err, errors.Is(err, channel.ErrAlreadyStarted))
				}
			case <-time.After(testutil.WaitLimit):
				t.Fatalf("round %d: %s #%d did not return", round, op.name, i+1)
			}
		}
		if got := ch.Started(); got != channel.SvcAll {
			t.Errorf("round %d: running %v after Start, Stop, Start in that order, want %v", round, got, channel.SvcAll)
		}
		if err := ch.Stop(context.Background(), channel.SvcAll); err != nil {
			t.Fatal(err)
		}
		if t.Failed() {
			return
		}
	}
}
