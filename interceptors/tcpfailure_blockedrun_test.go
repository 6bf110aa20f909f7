package interceptors

import (
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
