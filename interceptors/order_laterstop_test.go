package interceptors

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
)

// TestOrderLaterStopWaitsForTheDeliveryOfAnEarlierOne: Order's Stop of the receiver
// returns without waiting for its delivery of the messages it released once another Stop
// of the channel waits for it (channel.LifecycleContended: it may be a listener's); that
// later Stop, made from another goroutine, then found the channel stopped and returned
// nil at once, while the listener still took the first message and the second was not
// delivered yet. The first Stop now leaves the receiver level stopping
// (channel.StillStopping), so the later Stop calls Order's Stop again, which waits for
// the delivery within its ctx: when it returns nil, both messages were delivered.
func TestOrderLaterStopWaitsForTheDeliveryOfAnEarlierOne(t *testing.T) {
	o := newOrder(t, OrderConfig{})
	n := newNode(t, channeltest.NewNetwork(), o)
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	n.wait = func(*channel.Message) { once.Do(func() { close(entered); <-release }) }
	startNodes(t, n)
	src := fakeMember(1)
	for _, nr := range []uint32{3, 2} {
		if err := n.tap.inject(orderedMsg(src, nr, fmt.Sprint("a", nr))); err != nil {
			t.Fatal(err)
		}
	}
	first := make(chan error, 1)
	go func() { first <- n.ch.Stop(context.Background(), channel.SvcAll) }()
	select {
	case <-entered:
	case <-time.After(testutil.WaitLimit):
		t.Fatal("the released message did not reach the listener")
	}
	ctx, cancel := context.WithTimeout(context.Background(), testutil.WaitLimit)
	defer cancel()
	later := make(chan int, 1) // the messages delivered when the later Stop returned
	go func() {
		if err := n.ch.Stop(ctx, channel.SvcAll); err != nil {
			t.Errorf("the later Stop: %v", err)
		}
		later <- len(n.payloads())
	}()
	select {
	case err := <-first:
		if err != nil {
			t.Fatalf("the first Stop: %v", err)
		}
	case <-time.After(testutil.WaitLimit):
		close(release)
		t.Fatal("the first Stop did not return once another Stop waited for it")
	}
	select {
	case got := <-later:
		close(release)
		t.Fatalf("the later Stop returned with %d of 2 messages delivered, the listener still taking one", got)
	case <-time.After(100 * time.Millisecond): // an absence: the later Stop waits
	}
	close(release)
	select {
	case got := <-later:
		if got != 2 {
			t.Fatalf("the later Stop returned with %d of 2 messages delivered", got)
		}
	case <-time.After(testutil.WaitLimit):
		t.Fatal("the later Stop did not return once the delivery ended")
	}
	if got := fmt.Sprintf("%s", n.payloads()); got != "[a2 a3]" {
		t.Fatalf("delivered %s, want [a2 a3]", got)
	}
}
