package interceptors

import (
	"fmt"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
)

// TestFailureDetectorFlappingMemberBehindABlockedListenerStaysBounded: while a membership
// listener blocked, every removal and addition of a member that flapped (reported gone
// and found dead, reported added and found alive) queued one more event behind it, without
// bound. A member's addition still queued is now cancelled by its removal: the queue
// stays at a few entries through 200 flaps (B's addition, never told, and its removal
// cancel out), and once the listener returns its view (the events it had, applied in
// order) is the detector's Members, each member's additions and removals alternating.
// Then B, told to the listener, flaps again: its removal and addition are both kept (the
// listener learns B left and came back), the next removal cancels that addition, so at
// most those two stay queued.
func TestFailureDetectorFlappingMemberBehindABlockedListenerStaysBounded(t *testing.T) {
	const flaps = 200
	nw := channeltest.NewNetwork()
	a0 := newAliveSet()
	d := newTestDetector(a0)
	a := mbNew(t, nw, mbOpt{id: 1}, d)
	b := mbNew(t, nw, mbOpt{id: 2})
	c := mbNew(t, nw, mbOpt{id: 3})
	hold, held, open := holdOnce()
	hold2, held2, open2 := holdOnce()
	var cAdds atomic.Int32
	a.ch.AddMembershipListener(channel.MembershipFuncs{
		Added: func(m channel.Member) {
			if m.Port == c.port() {
				if cAdds.Add(1) == 1 {
					hold()
				} else {
					hold2()
				}
			}
		},
		Disappeared: func(channel.Member) {},
	})
	mbStart(t, a, b, c)
	t.Cleanup(open) // before the nodes stop
	t.Cleanup(open2)
	testutil.EventuallyTrue(t, testutil.WaitLimit, "B and C not answering", func() bool {
		return d.Settled() && d.Stats().AddSuspects == 2
	})
	kb := b.expected(2).Key()
	listed := func() bool {
		d.mu.Lock()
		defer d.mu.Unlock()
		_, ok := d.view[kb]
		return ok
	}
	a0.set(c.port(), true)
	d.MemberAdded(c.expected(3))
	waitClosed(t, held, "C's addition did not go up")
	a0.set(b.port(), true)
	d.MemberAdded(b.expected(2))
	testutil.EventuallyTrue(t, testutil.WaitLimit, "B verified", listed)
	maxEvents, maxCalls := 0, 0
	for i := range flaps {
		a0.set(b.port(), false)
		d.MemberDisappeared(b.expected(2))
		testutil.EventuallyTrue(t, testutil.WaitLimit, fmt.Sprintf("flap %d: B dropped", i), func() bool { return !listed() })
		a0.set(b.port(), true)
		d.MemberAdded(b.expected(2))
		testutil.EventuallyTrue(t, testutil.WaitLimit, fmt.Sprintf("flap %d: B listed again", i), listed)
		ev, calls := d.queuedEvents()
		maxEvents, maxCalls = max(maxEvents, ev), max(maxCalls, calls)
	}
	if maxEvents > 2 || maxCalls > 2 {
		t.Errorf("while the listener blocked, up to %d events and %d calls queued through %d flaps, want at most 2", maxEvents, maxCalls, flaps)
	}
	open()
	testutil.EventuallyTrue(t, testutil.WaitLimit, "the detector settled", d.Settled)
	checkView(t, d, a)

	// B told to the listener: it blocks on C's next addition while B flaps.
	a0.set(c.port(), false)
	d.MemberDisappeared(c.expected(3))
	testutil.EventuallyTrue(t, testutil.WaitLimit, "C dropped", func() bool { return d.Settled() && len(a.evs()) == 3 })
	a0.set(c.port(), true)
	d.MemberAdded(c.expected(3))
	waitClosed(t, held2, "C's second addition did not go up")
	maxEvents, maxCalls = 0, 0
	for i := range flaps {
		a0.set(b.port(), false)
		d.MemberDisappeared(b.expected(2))
		testutil.EventuallyTrue(t, testutil.WaitLimit, fmt.Sprintf("flap %d: B dropped", i), func() bool { return !listed() })
		a0.set(b.port(), true)
		d.MemberAdded(b.expected(2))
		testutil.EventuallyTrue(t, testutil.WaitLimit, fmt.Sprintf("flap %d: B listed again", i), listed)
		ev, calls := d.queuedEvents()
		maxEvents, maxCalls = max(maxEvents, ev), max(maxCalls, calls)
	}
	if maxEvents > 2 || maxCalls > 3 {
		t.Errorf("while the listener blocked, B told, up to %d events and %d calls queued through %d flaps, want at most 2 and 3", maxEvents, maxCalls, flaps)
	}
	open2()
	testutil.EventuallyTrue(t, testutil.WaitLimit, "the detector settled", d.Settled)
	checkView(t, d, a)
	if got := a.evs(); len(got) != 6 || got[4] != fmt.Sprintf("-%d", b.port()) || got[5] != fmt.Sprintf("+%d", b.port()) {
		t.Errorf("events %v, want B's removal and addition last", got)
	}
}

// checkView checks that the view the events told to a's listeners make, applied in
// order, is d's Members, and that no event was told twice in a row for a member.
func checkView(t *testing.T, d *TCPFailureDetector, a *mbNode) {
	t.Helper()
	view := map[string]bool{}
	for _, e := range a.evs() {
		p, add := e[1:], e[0] == '+'
		if view[p] == add {
			t.Fatalf("events %v: %s told twice in a row", a.evs(), e)
		}
		view[p] = add
	}
	var got []int32
	for p, in := range view {
		if in {
			var port int32
			fmt.Sscan(p, &port)
			got = append(got, port)
		}
	}
	slices.Sort(got)
	want := mbPorts(d.Members())
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("the listener's view %v (events %v), the detector's Members %v", got, a.evs(), want)
	}
	if ev, calls := d.queuedEvents(); ev != 0 || calls != 0 {
		t.Errorf("%d events, %d calls queued once settled", ev, calls)
	}
}
