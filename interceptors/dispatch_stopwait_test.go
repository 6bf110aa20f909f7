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

// TestDispatchStopWaitsForTheCallbacksOfTheMessagesItSends: Stop sent what was queued or
// in flight but returned without waiting for those messages' OnComplete callbacks, which
// could run after it returned, when the caller believes the channel stopped (as goleak
// believes its goroutines ended). Stop now waits for a callback that begins while it runs
// (the one of the message in flight as it began, the one of the message still queued):
// each callback's end comes before Stop's return.
func TestDispatchStopWaitsForTheCallbacksOfTheMessagesItSends(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := channeltest.NewNetwork()
		d := newDispatch(t, DispatchConfig{MaxThreads: 1})
		h := newHoldSend()
		a, b := newNode(t, nw, d, h), newNode(t, nw)
		startNodes(t, a, b)
		var clock atomic.Int32 // orders the callbacks' ends and Stop's return
		var ends [2]atomic.Int32
		release := make(chan struct{})
		for i := range 2 { // the first is held below, the second stays queued
			if err := sendAsync(t, a, b, seqData(i, 8), func(err error) {
				if err == nil {
					<-release
				}
				ends[i].Store(clock.Add(1))
			}); err != nil {
				t.Fatal(err)
			}
		}
		<-h.entered
		stopped := make(chan error, 1)
		var stopAt atomic.Int32
		go func() {
			err := a.ch.Stop(context.Background(), channel.SvcAll)
			stopAt.Store(clock.Add(1))
			stopped <- err
		}()
		synctest.Wait()
		h.open()
		synctest.Wait() // the first message went out; its callback waits for release
		returned := len(stopped) != 0
		close(release)
		if err := <-stopped; err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if returned {
			t.Fatal("Stop returned while the OnComplete of a message it sent was still running")
		}
		for i := range ends {
			if e, s := ends[i].Load(), stopAt.Load(); e == 0 || e > s {
				t.Fatalf("callback %d ended at %d, Stop returned at %d: want the callback first", i, e, s)
			}
		}
		if got := len(b.messages()); got != 2 {
			t.Fatalf("%d messages delivered, want 2", got)
		}
	})
}

// TestDispatchStopWaitsForCallbacksWithinItsContext: Stop waits for the callback of a
// message it sent within its ctx only: when ctx ends first, it returns an error wrapping
// ctx's; a later Stop made from another goroutine waits for the callback, and returns nil
// once it returned (TestDispatchLaterStopWaitsForACallbackAnEarlierOneLetGo).
func TestDispatchStopWaitsForCallbacksWithinItsContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := channeltest.NewNetwork()
		d := newDispatch(t, DispatchConfig{MaxThreads: 1})
		h := newHoldSend()
		a, b := newNode(t, nw, d, h), newNode(t, nw)
		startNodes(t, a, b)
		release := make(chan struct{})
		var ended atomic.Bool
		if err := sendAsync(t, a, b, seqData(0, 8), func(error) {
			<-release
			ended.Store(true)
		}); err != nil {
			t.Fatal(err)
		}
		<-h.entered
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		stopped := make(chan error, 1)
		go func() { stopped <- a.ch.Stop(ctx, channel.SvcAll) }()
		synctest.Wait()
		h.open()
		start := time.Now()
		err := <-stopped
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Stop with a callback held: %v, want context.DeadlineExceeded", err)
		}
		if took := time.Since(start); took != time.Second {
			t.Fatalf("Stop took %v, want its 1 s context", took)
		}
		again := make(chan error, 1)
		go func() { again <- d.Stop(context.Background(), channel.SvcAll) }()
		synctest.Wait()
		if len(again) != 0 {
			t.Fatalf("Stop again returned (%v) with the callback held", <-again)
		}
		if ended.Load() {
			t.Fatal("the callback ended before it was released")
		}
		close(release)
		if err := <-again; err != nil {
			t.Fatalf("Stop again once the callback was released: %v", err)
		}
		if !ended.Load() {
			t.Fatal("Stop again returned before the callback ended")
		}
	})
}
