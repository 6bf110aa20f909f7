package interceptors

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
)

// TestOrderRestartDuringTheReleaseKeepsOtherSendersHeld: two senders each have a message
// held for a gap when the receiver stops; the listener taking the first message Order's
// Stop releases (whichever sender's) stops and starts the channel again. Order's release
// then went on to the other sender once the receiver ran again and delivered its held
// message past the gap, the missing earlier one arriving later. A sender the release
// reaches after the receiver started again now keeps its messages held, waiting for their
// gaps: the earlier one, injected once the release ended, is delivered first.
func TestOrderRestartDuringTheReleaseKeepsOtherSendersHeld(t *testing.T) {
	o := newOrder(t, OrderConfig{})
	n := newNode(t, channeltest.NewNetwork(), o)
	a, b := fakeMember(1), fakeMember(2)
	var once sync.Once
	restarted := make(chan error, 1)
	n.wait = func(*channel.Message) {
		once.Do(func() {
			err := n.ch.Stop(context.Background(), channel.SvcAll)
			if err == nil {
				err = n.ch.Start(context.Background(), channel.SvcAll)
			}
			restarted <- err
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
		if err != nil {
			t.Fatalf("the listener's restart: %v", err)
		}
	case <-time.After(testutil.WaitLimit):
		t.Fatal("the listener's restart did not return")
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "the releases queued by the Stops ran", o.releases.Idle)
	got := n.payloads()
	if len(got) != 1 {
		t.Fatalf("delivered %s once the releases ran, want one message: the other sender's waits for its gap on the running receiver", got)
	}
	first := string(got[0])                                     // a2 or b2, whichever sender the release reached first
	other := map[string]channel.Member{"a2": b, "b2": a}[first] // the sender it reached after the restart
	prefix := map[string]string{"a2": "b", "b2": "a"}[first]
	if err := n.tap.inject(orderedMsg(other, 1, prefix+"1")); err != nil {
		t.Fatal(err)
	}
	var seq []string
	for _, p := range n.payloads() {
		if strings.HasPrefix(string(p), prefix) {
			seq = append(seq, string(p))
		}
	}
	if want := []string{prefix + "1", prefix + "2"}; !slices.Equal(seq, want) {
		t.Fatalf("delivered %s; the sender reached after the restart: %v, want %v", n.payloads(), seq, want)
	}
	if st := checkOrderHeld(t, o, "at the end"); st.Waiting != 0 {
		t.Fatalf("stats %+v, want nothing waiting", st)
	}
}
