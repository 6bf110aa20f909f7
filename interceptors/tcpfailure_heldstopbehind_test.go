package interceptors

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
)

// TestFailureDetectorStopInsideAHeldListenerLeavesItsRemovalsToTheDeliveringGoroutine: a
// listener of a held message that stops the channel while another goroutine delivers the
// events (here held in C's membership listener, queued behind B's announcement) does
// not wait for them: its Stop returns, and so does MessageReceived, with the removals the
// stopping membership reported still queued behind that call. They are not lost: once
// C's listener returns, that goroutine passes them up, after C's addition, and the
// detector settles. (The order TestFailureDetectorHeldMessageWhoseListenerStopsTheChannel
// met under load, the goroutine that delivered B's announcement not yet out of the queue
// when the listener stopped the channel, held here for as long as the test needs.)
func TestFailureDetectorStopInsideAHeldListenerLeavesItsRemovalsToTheDeliveringGoroutine(t *testing.T) {
	nw := channeltest.NewNetwork()
	alive := newAliveSet() // neither B nor C answers the check yet
	d := newTestDetector(alive)
	a := mbNew(t, nw, mbOpt{id: 1, senderCheck: true}, d)
	b := mbNew(t, nw, mbOpt{id: 2})
	c := mbNew(t, nw, mbOpt{id: 3})
	pb, pc := b.port(), c.port()
	hold, held, open := holdOnce()
	var once sync.Once
	a.ch.AddMembershipListener(channel.MembershipFuncs{
		Added: func(m channel.Member) {
			switch m.Port {
			case pb:
				// B's announcement: have C's addition queued behind it before returning.
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
	// B's message goes up once its announcement did, while C's addition goes up: its
	// listener stops the channel once C's listener blocks (before, C's removal would
	// cancel C's addition still queued).
	l := stoppingListener{ch: a.ch, stopped: make(chan error, 1)}
	a.ch.AddMessageListener(afterListener{stoppingListener: l, after: held})
	mbStart(t, a, b, c)
	t.Cleanup(open) // before the nodes stop
	testutil.EventuallyTrue(t, testutil.WaitLimit, "B and C not answering", func() bool {
		return d.Settled() && d.Stats().AddSuspects == 2
	})
	res := make(chan error, 1)
	go func() { res <- d.MessageReceived(&channel.Message{Source: b.ch.LocalMember(), Data: []byte("stop")}) }()
	waitClosed(t, held, "C's addition did not go up")
	select {
	case err := <-l.stopped:
		if err != nil {
			t.Errorf("Stop from the listener: %v", err)
		}
	case <-time.After(testutil.WaitLimit):
		t.Fatal("the listener's Stop did not return while C's listener blocks")
	}
	select {
	case err := <-res:
		if err != nil {
			t.Errorf("MessageReceived: %v", err)
		}
	case <-time.After(testutil.WaitLimit):
		t.Fatal("MessageReceived did not return while C's listener blocks")
	}
	sb, sc := fmt.Sprint(pb), fmt.Sprint(pc)
	// A's own recorder took C's addition before the blocking listener did.
	if got, want := a.evs(), []string{"+" + sb, "+" + sc}; !slices.Equal(got, want) {
		t.Errorf("while C's listener blocks A's events %v, want %v (the removals still queued)", got, want)
	}
	if d.Settled() {
		t.Error("the detector settled with the removals still queued behind C's listener")
	}
	open()
	testutil.EventuallyTrue(t, testutil.WaitLimit, "the removals went up, the detector settled", func() bool {
		return d.Settled() && len(a.evs()) == 4
	})
	got := a.evs()
	if !slices.Equal(got[:2], []string{"+" + sb, "+" + sc}) || !slices.Contains(got[2:], "-"+sb) || !slices.Contains(got[2:], "-"+sc) {
		t.Errorf("A's events %v, want B's and C's additions, then both removals", got)
	}
	if n := slices.Index(a.orderLog(), "msg:"+sb); n < 0 || n > slices.Index(a.orderLog(), "-"+sb) {
		t.Errorf("A saw %v, want B's message before its removal", a.orderLog())
	}
}

// afterListener is a stoppingListener that stops the channel once after is closed.
type afterListener struct {
	stoppingListener
	after chan struct{}
}

func (l afterListener) MessageReceived(m *channel.Message) error {
	select {
	case <-l.after:
	case <-time.After(testutil.WaitLimit):
		l.stopped <- errors.New("the listener waited for C's listener in vain")
		return nil
	}
	return l.stoppingListener.MessageReceived(m)
}
