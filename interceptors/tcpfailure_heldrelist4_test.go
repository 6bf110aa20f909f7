package interceptors

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
)

// holdMsg holds the message whose data is data on its way up (above the detector, below
// the channel's listeners).
type holdMsg struct {
	channel.InterceptorBase
	data string
	hold func()
}

func (h *holdMsg) MessageReceived(m *channel.Message) error {
	if string(m.Data) == h.data {
		h.hold()
	}
	return h.Prev().MessageReceived(m)
}

// TestFailureDetectorRelistingByACheckFlushesTheMessagesHeldBehindTheRemoval: a message
// y of a member dropped below is held behind its removal, unlisted. When a check then
// listed the member again (it came back below and answers), its announcement went up
// while y was still going up on its own goroutine, so y could reach the listeners after
// it, as a message of the new listing: "+B x -B +B y". A message that lists the member
// again has those messages go up first (flushHeld); the check's announcement now does
// too: "+B x -B y +B".
func TestFailureDetectorRelistingByACheckFlushesTheMessagesHeldBehindTheRemoval(t *testing.T) {
	alive := newAliveSet() // B does not answer until it comes back
	d := newTestDetector(alive)
	holdY, yEntered, openY := holdOnce()
	nw := channeltest.NewNetwork()
	a := mbNew(t, nw, mbOpt{id: 1}, &holdMsg{data: "y", hold: holdY}, d)
	b := mbNew(t, nw, mbOpt{id: 2})
	hold, held, open := holdOnce()
	t.Cleanup(openY)
	t.Cleanup(open)
	a.ch.AddMembershipListener(channel.MembershipFuncs{
		Added:       func(channel.Member) { hold() },
		Disappeared: func(channel.Member) {},
	})
	mbStart(t, a, b)
	testutil.EventuallyTrue(t, testutil.WaitLimit, "B checked, not answering", func() bool {
		return d.Settled() && d.Stats().AddSuspects == 1
	})
	k := b.expected(2).Key()
	src := b.ch.LocalMember()
	res := make(chan error, 2)
	go func() { res <- d.MessageReceived(&channel.Message{Source: src, Data: []byte("x")}) }()
	waitClosed(t, held, "B's announcement did not go up")
	listed := func() bool {
		d.mu.Lock()
		defer d.mu.Unlock()
		_, ok := d.view[k]
		return ok
	}
	mbStop(t, b) // the layer below drops B: its removal queued behind x
	testutil.EventuallyTrue(t, testutil.WaitLimit, "B dropped", func() bool { return !listed() })
	go func() { res <- d.MessageReceived(&channel.Message{Source: src, Data: []byte("y")}) }()
	testutil.EventuallyTrue(t, testutil.WaitLimit, "y held behind the removal", func() bool {
		return slices.Equal(heldData(d, k), []string{"y"})
	})
	alive.set(b.port(), true)
	if err := b.ch.Start(context.Background(), channel.SvcAll); err != nil {
		t.Fatal(err)
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "B listed again by its check", listed)
	open()
	waitClosed(t, yEntered, "y did not go up")
	testutil.EventuallyTrue(t, testutil.WaitLimit, "B's new announcement taken from the queue", func() bool {
		ev, _ := d.queuedEvents()
		return ev == 0
	})
	openY()
	for range 2 {
		if err := <-res; err != nil {
			t.Errorf("MessageReceived: %v", err)
		}
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "the detector settled", func() bool {
		return d.Settled() && len(a.received()) == 2 && len(a.evs()) == 3
	})
	p := fmt.Sprint(b.port())
	got := a.orderLog()
	if len(got) != 5 || got[0] != "+"+p || got[1] != "msg:"+p || !strings.HasPrefix(got[2], "-"+p) ||
		got[3] != "msg:"+p || got[4] != "+"+p {
		t.Errorf("A saw %v, want +%s x -%s y +%s", got, p, p, p)
	}
}
