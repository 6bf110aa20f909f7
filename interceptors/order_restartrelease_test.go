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

// TestOrderRestartFromTheListenerOfAReleasedMessageKeepsOrder: a listener taking a message
// that Order's Stop released starts the channel again. That Start calls Order's Stop of
// the receiver again (the level was left stopping, channel.StillStopping), which queued
// another release of every held message behind the delivery under way; that release ran
// once the listener returned, on the running receiver, and delivered a message of the new
// run that waited for an earlier one, skipping the gap. A release queued before the
// receiver started again now leaves the new run's messages held: the later one is
// delivered after the earlier one.
func TestOrderRestartFromTheListenerOfAReleasedMessageKeepsOrder(t *testing.T) {
	o := newOrder(t, OrderConfig{})
	n := newNode(t, channeltest.NewNetwork(), o)
	src, other := fakeMember(1), fakeMember(2)
	var once sync.Once
	restarted := make(chan error, 1)
	n.wait = func(*channel.Message) {
		once.Do(func() {
			err := n.ch.Start(context.Background(), channel.SvcAll)
			if err == nil {
				// Of the new run, waiting for b1.
				err = n.tap.inject(orderedMsg(other, 2, "b2"))
			}
			restarted <- err
		})
	}
	startNodes(t, n)
	if err := n.tap.inject(orderedMsg(src, 2, "a2")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), testutil.WaitLimit)
	defer cancel()
	if err := n.ch.Stop(ctx, channel.SvcAll); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	select {
	case err := <-restarted:
		if err != nil {
			t.Fatalf("the listener's Start: %v", err)
		}
	case <-time.After(testutil.WaitLimit):
		t.Fatal("the listener's Start did not return")
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "the releases queued by the Stops ran", o.releases.Idle)
	if got := fmt.Sprintf("%s", n.payloads()); got != "[a2]" {
		t.Fatalf("delivered %s once the releases ran, want [a2]: b2 waits for b1 on the running receiver", got)
	}
	if err := n.tap.inject(orderedMsg(other, 1, "b1")); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprintf("%s", n.payloads()); got != "[a2 b1 b2]" {
		t.Fatalf("delivered %s, want [a2 b1 b2]", got)
	}
}
