package channel_test

import (
	"context"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
)

// yieldingInterceptor yields in its Start and Stop, so that the lifecycle is held a little
// while others queue for it, and checks that no two of them run at once.
type yieldingInterceptor struct {
	channel.InterceptorBase
	mu      sync.Mutex
	running int
	overlap bool
}

func (yi *yieldingInterceptor) enter() {
	yi.mu.Lock()
	yi.running++
	if yi.running > 1 {
		yi.overlap = true
	}
	yi.mu.Unlock()
	runtime.Gosched()
}

func (yi *yieldingInterceptor) leave() {
	yi.mu.Lock()
	yi.running--
	yi.mu.Unlock()
}

func (yi *yieldingInterceptor) Start(ctx context.Context, svc channel.Service) error {
	yi.enter()
	defer yi.leave()
	return yi.Next().Start(ctx, svc)
}

func (yi *yieldingInterceptor) Stop(ctx context.Context, svc channel.Service) error {
	yi.enter()
	defer yi.leave()
	return yi.Next().Stop(ctx, svc)
}

// TestLifecycleStressWithEndingContexts: many goroutines Start and Stop one channel with
// short random deadlines (some already ended), so that waiters leave the queue, or are
// handed the lifecycle just as their ctx ends, at every point of the hand-off. No call
// hangs, no two run at once, and afterwards the channel still Starts and Stops with
// context.Background() and no goroutine is left (a waiter left in the queue, or a hold
// never handed on, would hang the last calls).
func TestLifecycleStressWithEndingContexts(t *testing.T) {
	before := goleak.IgnoreCurrent()
	n := channeltest.NewNetwork().NewNode()
	yi := &yieldingInterceptor{}
	ch, err := channel.New(channel.Config{Transport: n.Transport(), Membership: n.Membership(),
		Interceptors: []channel.Interceptor{yi}, HeartbeatInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	const goroutines, calls = 8, 200
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(g), 1))
			for range calls {
				var ctx context.Context
				var cancel context.CancelFunc
				switch r.IntN(4) {
				case 0:
					ctx, cancel = context.WithCancel(context.Background())
					cancel() // already ended
				default:
					ctx, cancel = context.WithTimeout(context.Background(), time.Duration(r.IntN(300))*time.Microsecond)
				}
				if r.IntN(2) == 0 {
					_ = ch.Start(ctx, channel.SvcAll)
				} else {
					_ = ch.Stop(ctx, channel.SvcAll)
				}
				cancel()
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(testutil.WaitLimit):
		t.Fatalf("Start and Stop calls with ending contexts did not all return within %v", testutil.WaitLimit)
	}
	if yi.overlap {
		t.Error("two Starts or Stops ran down the chain at once")
	}
	bounded := func(what string, call func(context.Context, channel.Service) error) {
		t.Helper()
		res := make(chan error, 1)
		go func() { res <- call(context.Background(), channel.SvcAll) }()
		select {
		case err := <-res:
			if err != nil {
				t.Fatalf("%s after the stress: %v", what, err)
			}
		case <-time.After(testutil.WaitLimit):
			t.Fatalf("%s after the stress did not return: the lifecycle was left held", what)
		}
	}
	bounded("Stop", ch.Stop)
	bounded("Start", ch.Start)
	if got := ch.Started(); got != channel.SvcAll {
		t.Fatalf("running %v after Start, want %v", got, channel.SvcAll)
	}
	bounded("Stop", ch.Stop)
	if got := ch.Started(); got != 0 {
		t.Fatalf("running %v after Stop, want none", got)
	}
	goleak.VerifyNone(t, append(testutil.IgnoreGnetPool(), before)...)
}
