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

// TestOrderStopLeavesAReleaseHandedToAReceiveGoroutine pins a limit of Order's Stop: a
// receive goroutine delivers a sender's message (its listener still running) when the
// receiver stops, and a later message of that sender waits for a gap. Stop releases it,
// but the sender's messages are being delivered by that goroutine, which delivers the
// released one too, in order, once its listener returned: Stop does not wait for it,
// since it may be made from that very listener (Order cannot tell), and returns nil
// first. Waiting for a listener call that began on a receive goroutine is the
// transport's part: transport/nio's Stop waits for its ReceiveFunc calls within ctx.
func TestOrderStopLeavesAReleaseHandedToAReceiveGoroutine(t *testing.T) {
	o := newOrder(t, OrderConfig{})
	n := newNode(t, channeltest.NewNetwork(), o)
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	n.wait = func(*channel.Message) { once.Do(func() { close(entered); <-release }) }
	startNodes(t, n)
	src := fakeMember(1)
	received := make(chan error, 1)
	go func() { received <- n.tap.inject(orderedMsg(src, 1, "a1")) }() // a receive goroutine
	select {
	case <-entered:
	case <-time.After(testutil.WaitLimit):
		t.Fatal("a1 did not reach the listener")
	}
	if err := n.tap.inject(orderedMsg(src, 3, "a3")); err != nil { // waits for a2
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), testutil.WaitLimit)
	defer cancel()
	err := n.ch.Stop(ctx, channel.SvcAll)
	got := len(n.payloads())
	close(release)
	if err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if got != 0 {
		t.Fatalf("%d messages delivered when Stop returned, want 0: a1's listener was held", got)
	}
	select {
	case err := <-received:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(testutil.WaitLimit):
		t.Fatal("the receive goroutine did not return once its listener did")
	}
	if got := fmt.Sprintf("%s", n.payloads()); got != "[a1 a3]" {
		t.Fatalf("delivered %s, want [a1 a3]: the receive goroutine delivers the released a3 after a1", got)
	}
}
