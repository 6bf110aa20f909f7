package interceptors

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
)

// TestOrderStopHandedByAListenerToAGoroutineItWaitsFor: a listener taking a message
// Order's Stop released that makes its Stop on another goroutine and waits for it is no
// call Order can tell from any other goroutine's (callq's InCall is the delivery's
// goroutine): the first Stop returns once that Stop waits for it
// (channel.LifecycleContended), but that Stop, the channel's next, waits for the
// delivery, which waits for it, until its own ctx ends; it then returns an error wrapping
// ctx's, the listener returns, the delivery ends and a later Stop returns nil.
func TestOrderStopHandedByAListenerToAGoroutineItWaitsFor(t *testing.T) {
	o := newOrder(t, OrderConfig{})
	n := newNode(t, channeltest.NewNetwork(), o)
	const bound = 200 * time.Millisecond
	handed := make(chan error, 1)
	var took time.Duration
	var once sync.Once
	n.wait = func(*channel.Message) {
		once.Do(func() {
			done := make(chan struct{})
			go func() {
				defer close(done)
				start := time.Now() // before the ctx, whose deadline is then no earlier
				ctx, cancel := context.WithTimeout(context.Background(), bound)
				defer cancel()
				err := n.ch.Stop(ctx, channel.SvcAll)
				took = time.Since(start)
				handed <- err
			}()
			<-done
		})
	}
	startNodes(t, n)
	src := fakeMember(1)
	for _, nr := range []uint32{3, 2} {
		if err := n.tap.inject(orderedMsg(src, nr, fmt.Sprint("a", nr))); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), testutil.WaitLimit)
	defer cancel()
	if err := n.ch.Stop(ctx, channel.SvcAll); err != nil {
		t.Fatalf("the first Stop: %v", err)
	}
	select {
	case err := <-handed:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("the Stop the listener handed to a goroutine: %v, want its ctx's error", err)
		}
	case <-time.After(testutil.WaitLimit):
		t.Fatal("the Stop the listener handed to a goroutine did not return")
	}
	if took < bound {
		t.Fatalf("the handed Stop took %v, want its %v ctx", took, bound)
	}
	if err := n.ch.Stop(ctx, channel.SvcAll); err != nil {
		t.Fatalf("a later Stop: %v", err)
	}
	if got := fmt.Sprintf("%s", n.payloads()); got != "[a2 a3]" {
		t.Fatalf("delivered %s, want [a2 a3]", got)
	}
}
