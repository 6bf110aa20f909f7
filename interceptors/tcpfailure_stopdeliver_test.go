package interceptors

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
)

// holdGone is a layer whose MemberDisappeared calls hold first (a membership listener of
// the layers below that may block).
type holdGone struct {
	channel.InterceptorBase
	hold func(channel.Member)
}

func (h *holdGone) MemberDisappeared(m channel.Member) {
	h.hold(m)
	h.Prev().MemberDisappeared(m)
}

// TestFailureDetectorStopReturnsAtItsContextWhileAListenerBlocks: once the detector had
// stopped checking, the removals its Stop reported (its suspects) and those the stopping
// membership below reported went up on the goroutine of the Stop, so a membership
// listener that blocked on one held the Stop past its ctx, for ever with a listener that
// never returned. They now go up from a goroutine of the Stop's own, which the Stop waits
// for within its ctx: it returns an error wrapping context.DeadlineExceeded, the removals
// go up in order once the listener returned (none is lost: "-B" then "-C"), nothing of
// the detector is left running then (goleak, in TestMain), and a later Stop and Start
// succeed. In "suspect" B is a suspect the Stop reports gone; in "below" it is the
// stopping membership that reports B and C gone.
func TestFailureDetectorStopReturnsAtItsContextWhileAListenerBlocks(t *testing.T) {
	for _, suspect := range []bool{false, true} {
		t.Run(map[bool]string{false: "below", true: "suspect"}[suspect], func(t *testing.T) {
			hold, entered, open := holdOnce()
			t.Cleanup(open)
			alive := newAliveSet()
			d := newTestDetector(alive)
			nw := channeltest.NewNetwork()
			a := mbNew(t, nw, mbOpt{id: 1}, &holdGone{hold: func(channel.Member) { hold() }}, d)
			b := mbNew(t, nw, mbOpt{id: 2})
			c := mbNew(t, nw, mbOpt{id: 3})
			alive.set(b.port(), true)
			alive.set(c.port(), true)
			mbStart(t, a, b, c)
			pb, pc := fmt.Sprint(b.port()), fmt.Sprint(c.port())
			testutil.EventuallyTrue(t, testutil.WaitLimit, "B and C announced", func() bool {
				return d.Settled() && len(a.evs()) == 2
			})
			want := []string{"-" + pb, "-" + pc}
			if suspect {
				nw.Partition(a.net, b.net) // dropped below; B still answers: a suspect
				testutil.EventuallyTrue(t, testutil.WaitLimit, "B kept as a suspect", func() bool {
					return d.Settled() && d.Stats().Suspects == 1
				})
			}
			err := returnsWithin(t, "Stop", open, func() error {
				return a.ch.Stop(within(t, 100*time.Millisecond), channel.SvcAll)
			})
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Stop with a removal's listener held: %v, want context.DeadlineExceeded", err)
			}
			waitClosed(t, entered, "no removal went up")
			open()
			testutil.EventuallyTrue(t, testutil.WaitLimit, "the removals went up", func() bool {
				return d.Settled() && len(a.evs()) == 4
			})
			got := a.evs()[2:]
			if suspect {
				// B's removal (the Stop's) and C's (the membership's): the Stop reports
				// its suspects first.
				if fmt.Sprint(got) != fmt.Sprint(want) {
					t.Fatalf("removals %v, want %v", got, want)
				}
			} else if !(fmt.Sprint(got) == fmt.Sprint(want) || fmt.Sprint(got) == fmt.Sprint([]string{want[1], want[0]})) {
				t.Fatalf("removals %v, want B's and C's", got)
			}
			if err := a.ch.Stop(within(t, testutil.WaitLimit), channel.SvcAll); err != nil {
				t.Fatalf("Stop once the listener returned: %v", err)
			}
			if err := a.ch.Start(within(t, testutil.WaitLimit), channel.SvcAll); err != nil {
				t.Fatalf("Start once the listener returned: %v", err)
			}
		})
	}
}

// TestFailureDetectorStopFromTheListenerOfARemovalItReports: a membership listener
// taking a removal the detector's Stop reported, which stops the channel again, waited
// for the channel's lifecycle, held by that Stop, which waited for the listener: the
// listener's Stop returned its ctx's error once that ended, for ever with
// context.Background. Once another Start or Stop waits for it
// (channel.LifecycleContended), the detector's Stop now returns without waiting for the
// removals still going up, leaving the level stopping (channel.StillStopping): the
// listener's Stop returns nil, and so does the first.
func TestFailureDetectorStopFromTheListenerOfARemovalItReports(t *testing.T) {
	alive := newAliveSet()
	d := newTestDetector(alive)
	nw := channeltest.NewNetwork()
	var a *mbNode
	inner := make(chan error, 1)
	var once sync.Once
	a = mbNew(t, nw, mbOpt{id: 1}, &holdGone{hold: func(channel.Member) {
		once.Do(func() { inner <- a.ch.Stop(within(t, testutil.WaitLimit), channel.SvcAll) })
	}}, d)
	b := mbNew(t, nw, mbOpt{id: 2})
	alive.set(b.port(), true)
	mbStart(t, a, b)
	testutil.EventuallyTrue(t, testutil.WaitLimit, "B announced", func() bool {
		return d.Settled() && len(a.evs()) == 1
	})
	start := time.Now()
	if err := a.ch.Stop(within(t, 2*testutil.WaitLimit), channel.SvcAll); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	var err error
	select {
	case err = <-inner:
	case <-time.After(2 * testutil.WaitLimit):
		t.Fatal("the listener's Stop did not return")
	}
	if err != nil {
		t.Fatalf("the listener's Stop: %v (after %v), want nil", err, time.Since(start))
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "the removal went up", func() bool {
		return d.Settled() && len(a.evs()) == 2
	})
	mbWantEvents(t, a, "+"+fmt.Sprint(b.port()), "-"+fmt.Sprint(b.port()))
}
