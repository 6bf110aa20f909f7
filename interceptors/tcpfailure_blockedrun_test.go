package interceptors

import (
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
)

// TestFailureDetectorBlockedRemovalListenerHoldsNoOtherMembersCheck: the goroutine checking
// a member delivered the queued events itself after each op, while it still owned the
// member's queue, so when the events it found included another member's removal whose
// listener blocked, that member's checker was stuck in the listener: the member's later
// ops (its removal, the heartbeat's re-checks, skipped while its queue ran) were never
// applied, and a member that died stayed listed for ever. Here C's addition goes up on
// C's checker and is held there until B, dropped meanwhile, has its removal queued behind
// it; that removal's listener then blocks on C's checker, and C, reported gone and not
// answering, must still be checked and dropped.
func TestFailureDetectorBlockedRemovalListenerHoldsNoOtherMembersCheck(t *testing.T) {
	nw := channeltest.NewNetwork()
	b := mbNew(t, nw, mbOpt{id: 2})
	c := mbNew(t, nw, mbOpt{id: 3})
	alive := newAliveSet(b.port(), c.port())
	d := newTestDetector(alive)
	a := mbNew(t, nw, mbOpt{id: 1}, d)
	holdAdd, addHeld, openAdd := holdOnce()
	holdGone, goneHeld, openGone := holdOnce()
	a.ch.AddMembershipListener(channel.MembershipFuncs{
		Added: func(m channel.Member) {
			if m.Port == c.port() {
				holdAdd()
			}
		},
		Disappeared: func(m channel.Member) {
			if m.Port == b.port() {
				holdGone() // blocks until the test ends
			}
		},
	})
	mbStart(t, a, b)
	testutil.EventuallyTrue(t, testutil.WaitLimit, "B listed", func() bool {
		return d.Settled() && slices.Contains(mbPorts(d.Members()), b.port())
	})
	mbStart(t, c)
	var once sync.Once
	release := func() { once.Do(func() { openAdd(); openGone() }) }
	t.Cleanup(release) // before the nodes stop (cleanups run last first)
	waitClosed(t, addHeld, "C's addition did not go up")
	// B dies and is reported gone: dropped, its removal queued behind C's addition.
	alive.set(b.port(), false)
	d.MemberDisappeared(b.expected(2))
	testutil.EventuallyTrue(t, testutil.WaitLimit, "B dropped", func() bool {
		return !slices.Contains(mbPorts(d.Members()), b.port())
	})
	openAdd() // C's checker goes on with B's removal, whose listener blocks
	waitClosed(t, goneHeld, "B's removal did not go up")
	// C dies and is reported gone: it must be checked and dropped all the same.
	alive.set(c.port(), false)
	d.MemberDisappeared(c.expected(3))
	testutil.EventuallyTrue(t, testutil.WaitLimit, "C, dead and reported gone, dropped while B's removal listener blocks", func() bool {
		return !slices.Contains(mbPorts(d.Members()), c.port())
	})
	release()
	testutil.EventuallyTrue(t, testutil.WaitLimit, "the detector settled", d.Settled)
}

// TestFailureDetectorMemberFlapsWhileItsAdditionIsHeld: a member's addition is held in a
// membership listener on the goroutine that checked it, and the layer below reports the
// member gone and then added again meanwhile (the reports stoppedRunListener made before
// its Stop until TestFailureDetectorBlockedRemovalListenerHoldsNoOtherMembersCheck moved
// them after it): each is checked at once by a queue of its own, the view follows the
// checks while the listener blocks, and the events go up in the order of the changes once
// it returned. A member that died and came back is dropped and listed again ("+B -B +B");
// one that answered all along is kept, with no event ("+B").
func TestFailureDetectorMemberFlapsWhileItsAdditionIsHeld(t *testing.T) {
	for _, dies := range []bool{true, false} {
		t.Run(map[bool]string{true: "dies", false: "answers"}[dies], func(t *testing.T) {
			hold, entered, open := holdOnce()
			t.Cleanup(open)
			nw := channeltest.NewNetwork()
			b := mbNew(t, nw, mbOpt{id: 2})
			alive := newAliveSet(b.port())
			d := newTestDetector(alive)
			a := mbNew(t, nw, mbOpt{id: 1}, &holdAdded{hold: func(channel.Member) { hold() }}, d)
			mbStart(t, a, b)
			waitClosed(t, entered, "B's addition did not go up")
			k := b.expected(2).Key()
			listed := func() bool { _, ok := d.Member(k); return ok }
			alive.set(b.port(), !dies)
			d.MemberDisappeared(b.expected(2))
			if dies {
				testutil.EventuallyTrue(t, testutil.WaitLimit, "B, dead, dropped while its addition is held", func() bool {
					return !listed()
				})
			} else {
				testutil.EventuallyTrue(t, testutil.WaitLimit, "B, answering, kept while its addition is held", func() bool {
					return d.Stats().KeptAlive == 1 && listed()
				})
			}
			alive.set(b.port(), true)
			d.MemberAdded(b.expected(2))
			testutil.EventuallyTrue(t, testutil.WaitLimit, "B listed again while its addition is held", func() bool {
				d.mu.Lock()
				_, checking := d.queues[k]
				d.mu.Unlock()
				return listed() && !checking
			})
			if got := a.evs(); len(got) != 0 {
				t.Fatalf("events %v went up while B's addition is held", got)
			}
			open()
			testutil.EventuallyTrue(t, testutil.WaitLimit, "the detector settled", d.Settled)
			p := fmt.Sprint(b.port())
			if dies {
				mbWantEvents(t, a, "+"+p, "-"+p, "+"+p)
			} else {
				mbWantEvents(t, a, "+"+p)
			}
			if !listed() {
				t.Error("B, back and answering, is not listed")
			}
		})
	}
}
