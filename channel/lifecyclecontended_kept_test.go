package channel_test

import (
	"context"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
)

// keptStop is an interceptor whose Stop of the sender level hands its ctx to the test, as
// a callback that keeps it would, and waits for one token of release.
type keptStop struct {
	channel.InterceptorBase
	ctxs    chan context.Context
	release chan struct{}
}

func (ks *keptStop) Stop(ctx context.Context, svc channel.Service) error {
	if svc&channel.SvcSender != 0 {
		ks.ctxs <- ctx
		<-ks.release
	}
	return ks.Next().Stop(ctx, svc)
}

func closed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// TestLifecycleContendedOfAKeptContext: LifecycleContended speaks of the Start or Stop
// under way only. A ctx kept after its Stop returned (by a callback, a goroutine) has a
// channel that a later Start or Stop waiting for another does not close, and a Stop made
// with that kept ctx passes down its own, closed when one waits for it.
func TestLifecycleContendedOfAKeptContext(t *testing.T) {
	n := channeltest.NewNetwork().NewNode()
	ks := &keptStop{ctxs: make(chan context.Context, 1), release: make(chan struct{})}
	ch, err := channel.New(channel.Config{Transport: n.Transport(), Membership: n.Membership(),
		Interceptors: []channel.Interceptor{ks}, HeartbeatInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	next := func(what string) context.Context {
		t.Helper()
		select {
		case ctx := <-ks.ctxs:
			return ctx
		case <-time.After(testutil.WaitLimit):
			t.Fatalf("%s: the interceptor's Stop was not called", what)
			return nil
		}
	}
	result := func(what string, c chan error) {
		t.Helper()
		select {
		case err := <-c:
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
		case <-time.After(testutil.WaitLimit):
			t.Fatalf("%s did not return", what)
		}
	}
	if err := ch.Start(context.Background(), channel.SvcAll); err != nil {
		t.Fatal(err)
	}
	first := make(chan error, 1)
	go func() { first <- ch.Stop(context.Background(), channel.SvcAll) }()
	kept := next("first Stop")
	ks.release <- struct{}{}
	result("first Stop", first)
	if closed(channel.LifecycleContended(kept)) {
		t.Fatal("LifecycleContended of a Stop nothing waited for is closed")
	}

	// A Stop made with the kept ctx, held, and a Start waiting for it.
	if err := ch.Start(context.Background(), channel.SvcAll); err != nil {
		t.Fatal(err)
	}
	second := make(chan error, 1)
	go func() { second <- ch.Stop(kept, channel.SvcAll) }()
	own := next("second Stop")
	if channel.LifecycleContended(own) == channel.LifecycleContended(kept) {
		t.Fatal("a Stop made with a kept ctx passes down the kept ctx's LifecycleContended, not its own")
	}
	started := make(chan error, 1)
	go func() { started <- ch.Start(context.Background(), channel.SvcAll) }()
	testutil.EventuallyTrue(t, testutil.WaitLimit, "the second Stop's LifecycleContended closed by the waiting Start",
		func() bool { return closed(channel.LifecycleContended(own)) })
	if closed(channel.LifecycleContended(kept)) {
		t.Fatal("a Start waiting for a later Stop closed LifecycleContended of a ctx kept from a Stop that had returned")
	}
	ks.release <- struct{}{}
	result("second Stop", second)
	result("Start", started)
	go func() { ks.release <- struct{}{} }()
	if err := ch.Stop(context.Background(), channel.SvcAll); err != nil {
		t.Fatal(err)
	}
	<-ks.ctxs
}
