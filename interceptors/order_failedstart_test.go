package interceptors

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
)

// errStartRefused is what failNextStart's Start returns.
var errStartRefused = errors.New("start refused by the test")

// failNextStart is a layer whose next Start, once armed, fails without starting anything.
type failNextStart struct {
	channel.InterceptorBase
	armed atomic.Bool
}

func (f *failNextStart) Start(ctx context.Context, svc channel.Service) error {
	if f.armed.Swap(false) {
		return errStartRefused
	}
	return f.Next().Start(ctx, svc)
}

// TestOrderFailedStartIsNotARun: two senders each have a message held for a gap when the
// receiver stops, and the listener taking the first message Order's Stop releases starts
// the channel again, which fails below Order. Order counted that Start of the receiver
// before the level below refused it, so its release, and the one the listener's Start
// queued, took the receiver as running again and left the other sender's message held on
// a stopped receiver. A Start that fails below Order is no longer counted: once the
// listener returned, both messages are delivered, and the channel starts and stops again.
func TestOrderFailedStartIsNotARun(t *testing.T) {
	o := newOrder(t, OrderConfig{})
	f := &failNextStart{}
	n := newNode(t, channeltest.NewNetwork(), o, f)
	a, b := fakeMember(1), fakeMember(2)
	var once sync.Once
	restarted := make(chan error, 1)
	n.wait = func(*channel.Message) {
		once.Do(func() {
			f.armed.Store(true)
			restarted <- n.ch.Start(context.Background(), channel.SvcAll)
		})
	}
	startNodes(t, n)
	for _, m := range []*channel.Message{orderedMsg(a, 2, "a2"), orderedMsg(b, 2, "b2")} {
		if err := n.tap.inject(m); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), testutil.WaitLimit)
	defer cancel()
	if err := n.ch.Stop(ctx, channel.SvcAll); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	select {
	case err := <-restarted:
		if !errors.Is(err, errStartRefused) {
			t.Fatalf("the listener's Start: %v, want %v", err, errStartRefused)
		}
	case <-time.After(testutil.WaitLimit):
		t.Fatal("the listener's Start did not return")
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "the releases queued by the Stops ran", o.releases.Idle)
	if got := len(n.payloads()); got != 2 {
		t.Fatalf("delivered %s once the releases ran, want both messages: the receiver never started again", n.payloads())
	}
	if st := checkOrderHeld(t, o, "after the failed Start"); st.Waiting != 0 {
		t.Fatalf("stats %+v, want nothing waiting", st)
	}
	if err := n.ch.Start(ctx, channel.SvcAll); err != nil {
		t.Fatalf("a later Start: %v", err)
	}
	for _, m := range []*channel.Message{orderedMsg(a, 4, "a4"), orderedMsg(a, 3, "a3")} {
		if err := n.tap.inject(m); err != nil {
			t.Fatal(err)
		}
	}
	if got := fmt.Sprintf("%s", n.payloads()[2:]); got != "[a3 a4]" {
		t.Fatalf("delivered %s after the later Start, want [a3 a4]", got)
	}
}
