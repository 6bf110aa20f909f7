package interceptors

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
)

// TestOrderMessageInARestartWindowKeepsItsSendersGap: as in
// TestOrderRestartDuringTheReleaseKeepsOtherSendersHeld, the listener of the first
// message Order's Stop releases stops and starts the channel again, so the sender the
// release reaches after the restart keeps its held message waiting for its gap. Here a
// message of that sender (numbered 3) arrives between the listener's Stop and Start (a
// receive goroutine's delivery its transport's Stop did not wait for). The receiver being
// stopped then, it released that sender's held messages at once, the gap skipped, before
// the release still to reach the sender could tell whether the receiver starts again:
// the missing earlier message, arriving after the restart, went up after them, out of
// order. A message that would wait on the stopped receiver is now released at once only
// when no release of that Stop is still to reach its sender: here it waits with the
// others, and the earlier message, once it came, goes up first: 1, 2, 3.
func TestOrderMessageInARestartWindowKeepsItsSendersGap(t *testing.T) {
	o := newOrder(t, OrderConfig{})
	n := newNode(t, channeltest.NewNetwork(), o)
	a, b := fakeMember(1), fakeMember(2)
	var first atomic.Bool
	restarted := make(chan error, 1)
	var prefix string
	n.wait = func(m *channel.Message) {
		if !first.CompareAndSwap(false, true) {
			return // the messages the listener's steps deliver
		}
		func() {
			err := n.ch.Stop(context.Background(), channel.SvcAll)
			if err == nil {
				// The other sender's next message, on the stopped receiver.
				other, p := b, "b"
				if strings.HasPrefix(string(m.Data), "b") {
					other, p = a, "a"
				}
				prefix = p
				err = n.tap.inject(orderedMsg(other, 3, p+"3"))
			}
			if err == nil {
				err = n.ch.Start(context.Background(), channel.SvcAll)
			}
			restarted <- err
		}()
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
		if err != nil {
			t.Fatalf("the listener's restart: %v", err)
		}
	case <-time.After(testutil.WaitLimit):
		t.Fatal("the listener's restart did not return")
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "the releases queued by the Stops ran", o.releases.Idle)
	other := map[string]channel.Member{"a": a, "b": b}[prefix]
	if err := n.tap.inject(orderedMsg(other, 1, prefix+"1")); err != nil {
		t.Fatal(err)
	}
	var seq []string
	for _, p := range n.payloads() {
		if strings.HasPrefix(string(p), prefix) {
			seq = append(seq, string(p))
		}
	}
	if want := []string{prefix + "1", prefix + "2", prefix + "3"}; !slices.Equal(seq, want) {
		t.Fatalf("delivered %s; the sender reached after the restart: %v, want %v", n.payloads(), seq, want)
	}
	if st := checkOrderHeld(t, o, "at the end"); st.Waiting != 0 {
		t.Fatalf("stats %+v, want nothing waiting", st)
	}
}

// TestOrderMessageOfASenderMadeDuringTheReleaseIsNotStranded: a message that would wait
// on the stopped receiver is left to the Stop's release while that release has still to
// reach its sender; a sender whose state is made while the release runs (its first
// message arriving from a receive goroutine the transport's Stop did not wait for, here
// injected by the listener of the message the release delivers) is not among those the
// release began with. The release goes over such senders once it went over the others,
// so that message is delivered, its gap skipped, and nothing is left waiting.
func TestOrderMessageOfASenderMadeDuringTheReleaseIsNotStranded(t *testing.T) {
	o := newOrder(t, OrderConfig{})
	n := newNode(t, channeltest.NewNetwork(), o)
	a, c := fakeMember(1), fakeMember(3)
	var first atomic.Bool
	injected := make(chan error, 1)
	n.wait = func(*channel.Message) {
		if first.CompareAndSwap(false, true) {
			injected <- n.tap.inject(orderedMsg(c, 2, "c2")) // 1 never comes
		}
	}
	startNodes(t, n)
	if err := n.tap.inject(orderedMsg(a, 2, "a2")); err != nil {
		t.Fatal(err)
	}
	if err := n.ch.Stop(within(t, testutil.WaitLimit), channel.SvcAll); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	select {
	case err := <-injected:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(testutil.WaitLimit):
		t.Fatal("the release did not deliver a2")
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "the release ran", o.releases.Idle)
	testutil.Eventually(t, testutil.WaitLimit, func() error {
		if got := fmt.Sprintf("%s", n.payloads()); got != "[a2 c2]" {
			return fmt.Errorf("delivered %s on the stopped receiver, want [a2 c2] (stats %+v)", got, o.Stats())
		}
		return nil
	})
	if st := checkOrderHeld(t, o, "on the stopped receiver"); st.Waiting != 0 {
		t.Fatalf("stats %+v, want nothing waiting", st)
	}
}
