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

// TestOrderStopFromTheListenerOfAMessageItReleases: Order's Stop of the receiver delivers
// what still waits and waits for that delivery within its ctx; a listener taking one of
// those messages that stops the channel itself (Channel.Stop with context.Background(),
// as a listener that stops on a last message) waited for the channel's lifecycle, held by
// the first Stop, which waited for that listener, for ever. Order's Stop now stops
// waiting for the delivery once another Start or Stop of the channel waits for it
// (channel.LifecycleContended): both Stops return nil and every message is delivered.
func TestOrderStopFromTheListenerOfAMessageItReleases(t *testing.T) {
	o := newOrder(t, OrderConfig{})
	n := newNode(t, channeltest.NewNetwork(), o)
	cbCtx, cancel := context.WithCancel(context.Background())
	defer cancel()
	inner := make(chan error, 1)
	var once sync.Once
	n.wait = func(*channel.Message) {
		once.Do(func() { inner <- n.ch.Stop(cbCtx, channel.SvcAll) })
	}
	startNodes(t, n)
	src := fakeMember(1)
	for _, nr := range []uint32{3, 2} {
		if err := n.tap.inject(orderedMsg(src, nr, fmt.Sprint("a", nr))); err != nil {
			t.Fatal(err)
		}
	}
	outer := make(chan error, 1)
	go func() { outer <- n.ch.Stop(cbCtx, channel.SvcAll) }()
	for what, c := range map[string]chan error{"the Stop": outer, "the listener's Stop": inner} {
		select {
		case err := <-c:
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
		case <-time.After(testutil.WaitLimit):
			cancel()
			t.Fatalf("%s did not return: the listener's Stop waits for the first, which waits for the listener", what)
		}
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "both messages delivered", func() bool { return len(n.payloads()) == 2 })
	if got := fmt.Sprintf("%s", n.payloads()); got != "[a2 a3]" {
		t.Fatalf("delivered %s, want [a2 a3]", got)
	}
}
