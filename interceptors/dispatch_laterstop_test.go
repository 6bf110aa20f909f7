package interceptors

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
)

// TestDispatchLaterStopWaitsForACallbackAnEarlierOneLetGo: Stop waits for the OnComplete
// callback of a message it sends until another Start or Stop of the channel waits for it
// (channel.LifecycleContended), here the callback's own Stop; it then lets the callback
// go and returns nil. The channel took the sender level as stopped, so a later Stop made
// from another goroutine returned nil at once while the callback still ran. Stop now
// leaves the level stopping when it let a callback go (channel.StillStopping): the
// callback's own Stop waits for nothing and returns nil, and the later Stop waits for the
// callback to return.
func TestDispatchLaterStopWaitsForACallbackAnEarlierOneLetGo(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := channeltest.NewNetwork()
		d := newDispatch(t, DispatchConfig{MaxThreads: 1})
		h := newHoldSend()
		a, b := newNode(t, nw, d, h), newNode(t, nw)
		startNodes(t, a, b)
		release := make(chan struct{})
		inner := make(chan error, 1)
		var ended atomic.Bool
		if err := sendAsync(t, a, b, seqData(0, 8), func(err error) {
			inner <- errors.Join(err, a.ch.Stop(context.Background(), channel.SvcAll))
			<-release
			ended.Store(true)
		}); err != nil {
			t.Fatal(err)
		}
		<-h.entered
		first := make(chan error, 1)
		go func() { first <- a.ch.Stop(context.Background(), channel.SvcAll) }()
		synctest.Wait()
		h.open() // the message goes out while Stop runs: Stop waits for its callback
		for what, c := range map[string]chan error{"the first Stop": first, "the callback's Stop": inner} {
			if err := <-c; err != nil {
				t.Fatalf("%s: %v", what, err)
			}
		}
		later := make(chan error, 1)
		go func() { later <- a.ch.Stop(context.Background(), channel.SvcAll) }()
		synctest.Wait()
		select {
		case err := <-later:
			close(release)
			t.Fatalf("the later Stop returned (%v) while the callback the first let go still ran", err)
		default:
		}
		close(release)
		if err := <-later; err != nil {
			t.Fatalf("the later Stop: %v", err)
		}
		if !ended.Load() {
			t.Fatal("the later Stop returned before the callback did")
		}
	})
}

// TestDispatchStopHandedByACallbackToAGoroutineItWaitsFor: a callback of a message Stop
// sends that makes its Stop on another goroutine and waits for it is no call the
// dispatcher can tell from any other goroutine's: the first Stop lets the callback go
// once that Stop waits for it (channel.LifecycleContended), but that Stop, the channel's
// next, waits for the callback, which waits for it, until its own ctx ends; it then
// returns an error wrapping ctx's, the callback returns, and a later Stop returns nil.
func TestDispatchStopHandedByACallbackToAGoroutineItWaitsFor(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := channeltest.NewNetwork()
		d := newDispatch(t, DispatchConfig{MaxThreads: 1})
		h := newHoldSend()
		a, b := newNode(t, nw, d, h), newNode(t, nw)
		startNodes(t, a, b)
		handed := make(chan error, 1)
		var took time.Duration
		if err := sendAsync(t, a, b, seqData(0, 8), func(err error) {
			done := make(chan struct{})
			go func() {
				defer close(done)
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				defer cancel()
				start := time.Now()
				serr := a.ch.Stop(ctx, channel.SvcAll)
				took = time.Since(start)
				handed <- errors.Join(err, serr)
			}()
			<-done
		}); err != nil {
			t.Fatal(err)
		}
		<-h.entered
		first := make(chan error, 1)
		go func() { first <- a.ch.Stop(context.Background(), channel.SvcAll) }()
		synctest.Wait()
		h.open()
		if err := <-first; err != nil {
			t.Fatalf("the first Stop: %v", err)
		}
		if err := <-handed; !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("the Stop the callback handed to a goroutine: %v, want its ctx's error", err)
		}
		if took != time.Second {
			t.Fatalf("the handed Stop took %v, want its 1 s ctx", took)
		}
		if err := a.ch.Stop(context.Background(), channel.SvcAll); err != nil {
			t.Fatalf("a later Stop: %v", err)
		}
	})
}
