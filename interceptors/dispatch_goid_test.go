package interceptors

import (
	"context"
	"sync/atomic"
	"testing"
	"testing/synctest"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/callq"
)

// TestDispatchStopReadsAWorkersGoroutineIDOnce: a callback that begins while Stop runs
// is recorded by its goroutine's id, which callq.GoroutineID reads from a stack trace
// (microseconds, under the dispatcher's lock). It was read for every such callback, so a
// Stop sending many queued messages with callbacks read it once per message; a worker now
// reads it once, whatever the number of callbacks it runs while Stop runs.
func TestDispatchStopReadsAWorkersGoroutineIDOnce(t *testing.T) {
	var reads atomic.Int32
	goroutineID = func() uint64 { reads.Add(1); return callq.GoroutineID() }
	t.Cleanup(func() { goroutineID = callq.GoroutineID })
	synctest.Test(t, func(t *testing.T) {
		nw := channeltest.NewNetwork()
		d := newDispatch(t, DispatchConfig{MaxThreads: 1})
		h := newHoldSend()
		a, b := newNode(t, nw, d, h), newNode(t, nw)
		startNodes(t, a, b)
		const n = 20
		var calls atomic.Int32
		for i := range n {
			if err := sendAsync(t, a, b, seqData(i, 8), func(error) { calls.Add(1) }); err != nil {
				t.Fatal(err)
			}
		}
		<-h.entered
		stopped := make(chan error, 1)
		go func() { stopped <- a.ch.Stop(context.Background(), channel.SvcAll) }()
		synctest.Wait()
		h.open() // every message goes out, and its callback begins, while Stop runs
		if err := <-stopped; err != nil {
			t.Fatalf("Stop: %v", err)
		}
		if got := calls.Load(); got != n {
			t.Fatalf("%d callbacks ran, want %d", got, n)
		}
		if got := reads.Load(); got != 1 {
			t.Fatalf("the goroutine id was read %d times for %d callbacks on one worker, want once", got, n)
		}
	})
}
