package interceptors

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"testing/synctest"

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
