package interceptors

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
)

// Stopping the receiver delivers what still waits within the Stop's context, as the
// transport's receiver bounds what it drains: a listener still busy with one of those
// messages when the context ends makes Stop return an error wrapping the context's, and
// the delivery goes on in the background. Stop waited for the listener however its
// context ended: an application whose listener waits for something done after Stop
// returns never got Stop back.
func TestOrderStopBoundedByContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		o := newOrder(t, OrderConfig{})
		n := newNode(t, channeltest.NewNetwork(), o)
		release := make(chan struct{})
		n.wait = func(*channel.Message) { <-release }
		startNodes(t, n)
		src := fakeMember(1)
		for _, nr := range []uint32{3, 2} {
			if err := n.tap.inject(orderedMsg(src, nr, fmt.Sprint("a", nr))); err != nil {
				t.Fatal(err)
			}
		}
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		done := make(chan error, 1)
		go func() { done <- n.ch.Stop(ctx, channel.SvcAll) }()
		<-ctx.Done() // the listener holds a2, Stop waits: the bubble's clock reaches the deadline
		synctest.Wait()
		select {
		case err := <-done:
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Stop with the listener still delivering: %v, want an error wrapping context.DeadlineExceeded", err)
			}
		default:
			close(release)
			<-done
			t.Fatal("Stop waited for the listener past its context's end")
		}
		close(release)
		synctest.Wait()
		if got := fmt.Sprintf("%s", n.payloads()); got != "[a2 a3]" {
			t.Fatalf("delivered %s, want [a2 a3]", got)
		}
		if st := checkOrderHeld(t, o, "after the delivery"); st.Waiting != 0 || st.HeldBytes != 0 {
			t.Fatalf("stats %+v, want nothing waiting nor counted", st)
		}
	})
}
