package interceptors

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
)

// TestFailureDetectorHeldMessagesDoNotWaitForAnotherMembersListener: the goroutine that
// passes up the messages held behind a member's announcement delivered the events itself
// first, when no other goroutine did, and went on past that announcement to the events
// queued meanwhile: a membership listener blocking on another member's event held the
// messages, although their announcement had gone up. Here B's announcement is delivered
// by that goroutine, C's addition is queued while B's listener runs, and C's listener
// blocks: B's message now goes up meanwhile, after B's announcement.
func TestFailureDetectorHeldMessagesDoNotWaitForAnotherMembersListener(t *testing.T) {
	nw := channeltest.NewNetwork()
	alive := newAliveSet() // neither B nor C answers the check yet
	d := newTestDetector(alive)
	a := mbNew(t, nw, mbOpt{id: 1}, d)
	b := mbNew(t, nw, mbOpt{id: 2})
	c := mbNew(t, nw, mbOpt{id: 3})
	pc := c.port()
	hold, held, open := holdOnce()
	var once sync.Once
	a.ch.AddMembershipListener(channel.MembershipFuncs{
		Added: func(m channel.Member) {
			switch m.Port {
			case b.port():
				// B's announcement: have C's addition queued behind it (and behind the
				// mark that lets B's messages go) before returning.
				once.Do(func() {
					alive.set(pc, true)
					d.MemberAdded(c.expected(3))
					// Poll, not EventuallyTrue: this is not the test's goroutine.
					ctx, cancel := context.WithTimeout(context.Background(), testutil.WaitLimit)
					defer cancel()
					if err := testutil.Poll(ctx, func() error {
						if d.events.Len() < 2 {
							return errors.New("C's addition not queued behind B's announcement")
						}
						return nil
					}); err != nil {
						t.Error(err)
					}
				})
			case pc:
				hold()
			}
		},
		Disappeared: func(channel.Member) {},
	})
	mbStart(t, a, b, c)
	t.Cleanup(open) // before the nodes stop
	testutil.EventuallyTrue(t, testutil.WaitLimit, "B and C not answering", func() bool {
		return d.Settled() && d.Stats().AddSuspects == 2
	})
	res := make(chan error, 1)
	go func() { res <- d.MessageReceived(&channel.Message{Source: b.ch.LocalMember(), Data: []byte("x")}) }()
	waitClosed(t, held, "C's addition did not go up")
	pb := fmt.Sprint(b.port())
	testutil.EventuallyTrue(t, testutil.WaitLimit, "B's message went up while C's listener blocks", func() bool {
		return len(a.received()) == 1
	})
	if err := <-res; err != nil {
		t.Errorf("MessageReceived: %v", err)
	}
	// A's own recorder took C's addition before the blocking listener did, so it may
	// come before or after B's message.
	if got := a.orderLog(); slices.Index(got, "+"+pb) != 0 || !slices.Contains(got, "msg:"+pb) {
		t.Errorf("while C's listener blocks A saw %v, want B's addition first, then its message", got)
	}
	open()
	testutil.EventuallyTrue(t, testutil.WaitLimit, "the detector settled", func() bool {
		return d.Settled() && len(a.evs()) == 2
	})
	if got := a.evs(); !slices.Equal(got, []string{"+" + pb, fmt.Sprintf("+%d", pc)}) {
		t.Errorf("A's events %v, want B's addition, then C's", got)
	}
}
