package interceptors

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
)

// TestOrderFailedStartWithNothingHeldQueuesNoRelease: a Start of the receiver that fails
// below Order queued a release of the held messages (and a goroutine to run it) even when
// no message was held. It now queues one only when a sender has messages waiting: with
// the releases queue kept busy by the test, a failed Start with nothing held leaves it
// empty, and one with a message held queues its release, which delivers the message.
// (The message is held during that Start: one that would wait on a stopped receiver is
// released at once, TestOrderMessageHeldOnAStoppedReceiverIsReleased.)
func TestOrderFailedStartWithNothingHeldQueuesNoRelease(t *testing.T) {
	o := newOrder(t, OrderConfig{})
	f := &failNextStart{}
	g := &gateStart{armed: make(chan struct{}), inStart: make(chan struct{}), leave: make(chan struct{})}
	n := newNode(t, channeltest.NewNetwork(), o, f, g)
	startNodes(t, n)
	ctx, cancel := context.WithTimeout(context.Background(), testutil.WaitLimit)
	defer cancel()
	if err := n.ch.Stop(ctx, channel.SvcAll); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "the Stop's release ran", o.releases.Idle)
	// Keep the releases queue running a call of the test's, so that what a Start queues
	// stays queued where the test can count it.
	block, running := make(chan struct{}), make(chan struct{})
	o.releases.Add(func() { close(running); <-block })
	go o.releases.Run(nil)
	<-running
	defer close(block)
	failStart := func() {
		t.Helper()
		f.armed.Store(true)
		if err := n.ch.Start(ctx, channel.SvcAll); !errors.Is(err, errStartRefused) {
			t.Fatalf("Start: %v, want %v", err, errStartRefused)
		}
	}
	failStart()
	if got := o.releases.Len(); got != 0 {
		t.Fatalf("a failed Start with nothing held queued %d releases, want none", got)
	}
	close(g.armed) // the next Start waits below Order, then fails
	started := make(chan error, 1)
	go func() { started <- n.ch.Start(ctx, channel.SvcAll) }()
	waitClosed(t, g.inStart, "the Start did not reach the layer below Order")
	if err := n.tap.inject(orderedMsg(fakeMember(1), 2, "a2")); err != nil { // held for 1
		t.Fatal(err)
	}
	if st := o.Stats(); st.Waiting != 1 {
		t.Fatalf("stats %+v, want a2 waiting", st)
	}
	close(g.leave)
	if err := <-started; !errors.Is(err, errStartRefused) {
		t.Fatalf("Start: %v, want %v", err, errStartRefused)
	}
	if got := o.releases.Len(); got != 1 {
		t.Fatalf("a failed Start with a message held queued %d releases, want 1", got)
	}
	block <- struct{}{} // the test's call returns; the Start's release runs
	testutil.EventuallyTrue(t, testutil.WaitLimit, "the release ran", o.releases.Idle)
	if got := fmt.Sprintf("%s", n.payloads()); got != "[a2]" {
		t.Fatalf("delivered %s, want [a2]", got)
	}
}
