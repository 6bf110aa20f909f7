package interceptors

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
)

// TestFailureDetectorStoppedRunKeepsTheOrderOfEvents: a Stop that does not wait for a
// member's check goroutine (held in a membership listener, or in a check that ignores its
// context) left the goroutine its queue, but the events the membership below reported
// once the detector was stopped (every member gone, as it stops) were applied at once,
// ahead of the ops still queued: once the goroutine went on, it applied those unchecked
// after them, and listed again a member the stopped membership had reported gone, with a
// MemberAdded after the Stop returned. An event of a stopped detector now goes behind the
// ops a stopped run still has for its member, so they are applied in the order they came
// (the member ends unlisted). Dropping those ops instead (as a stopped
// NonBlockingCoordinator does) is no remedy: a disappearance queued behind the held call
// that the membership below will not report again would be lost, and the member stay
// listed ("gone"). In "probe" the addition may still be queued when the removal comes,
// which then cancels it (TestFailureDetectorFlappingMemberBehindABlockedListenerStaysBounded):
// the listener is told both or neither.
func TestFailureDetectorStoppedRunKeepsTheOrderOfEvents(t *testing.T) {
	for _, tc := range []struct {
		name   string
		run    func(t *testing.T) (d *TCPFailureDetector, a, b *mbNode, want []string)
		orNone bool // the events may also cancel out
	}{
		{"probe", stoppedRunProbe, true},
		{"listener", stoppedRunListener, false},
		{"gone", stoppedRunGone, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, a, b, want := tc.run(t)
			testutil.EventuallyTrue(t, testutil.WaitLimit, "the stopped run ended", d.Settled)
			if _, ok := d.Member(b.expected(2).Key()); ok {
				t.Errorf("the stopped detector lists the member (events [%v])", a.evs())
			}
			if tc.orNone && len(a.evs()) == 0 {
				return
			}
			mbWantEvents(t, a, want...)
		})
	}
}

// holdOnce returns a function that blocks the first time it is called until open is
// called, and a channel closed when it was.
func holdOnce() (hold func(), entered chan struct{}, open func()) {
	entered, release := make(chan struct{}), make(chan struct{})
	var once, free sync.Once
	hold = func() {
		once.Do(func() {
			close(entered)
			<-release
		})
	}
	return hold, entered, func() { free.Do(func() { close(release) }) }
}

func waitClosed(t *testing.T, ch chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(testutil.WaitLimit):
		t.Fatal(what)
	}
}

// stoppedRunProbe: the check of an added member ignores its context and outlasts the
// Stop, whose membership reports the member gone meanwhile.
func stoppedRunProbe(t *testing.T) (*TCPFailureDetector, *mbNode, *mbNode, []string) {
	hold, entered, open := holdOnce()
	t.Cleanup(open)
	d := must(NewTCPFailureDetector(TCPFailureDetectorConfig{
		Probe: func(context.Context, channel.Member) error { hold(); return nil },
	}))
	nw := channeltest.NewNetwork()
	a := mbNew(t, nw, mbOpt{id: 1}, d)
	b := mbNew(t, nw, mbOpt{id: 2})
	mbStart(t, a, b)
	waitClosed(t, entered, "the added member was not checked")
	err := returnsWithin(t, "Stop", open, func() error {
		return a.ch.Stop(within(t, 100*time.Millisecond), channel.SvcAll)
	})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Stop with the check held: %v, want context.DeadlineExceeded", err)
	}
	open()
	p := fmt.Sprint(b.port())
	return d, a, b, []string{"+" + p, "-" + p}
}

// stoppedRunListener: the member's announcement is held in a listener on the goroutine
// that checked it; then the channel is stopped, its membership reporting the member gone
// (queued behind the held call, as the goroutine keeps the member's queue for a stopped
// run). Reports the running detector gets meanwhile are checked at once, by a queue of
// their own (TestFailureDetectorBlockedRemovalListenerHoldsNoOtherMembersCheck).
func stoppedRunListener(t *testing.T) (*TCPFailureDetector, *mbNode, *mbNode, []string) {
	hold, entered, open := holdOnce()
	t.Cleanup(open)
	d := must(NewTCPFailureDetector(TCPFailureDetectorConfig{
		Probe: func(context.Context, channel.Member) error { return nil },
	}))
	nw := channeltest.NewNetwork()
	a := mbNew(t, nw, mbOpt{id: 1}, &holdAdded{hold: func(channel.Member) { hold() }}, d)
	b := mbNew(t, nw, mbOpt{id: 2})
	mbStart(t, a, b)
	waitClosed(t, entered, "the added member was not announced")
	if err := returnsWithin(t, "Stop", open, func() error {
		return a.ch.Stop(within(t, testutil.WaitLimit), channel.SvcAll)
	}); err != nil {
		t.Fatalf("Stop with the announcement held: %v", err)
	}
	k := b.expected(2).Key()
	testutil.EventuallyTrue(t, testutil.WaitLimit, "the stop's report queued behind the held call", func() bool {
		d.mu.Lock()
		defer d.mu.Unlock()
		q := d.queues[k]
		return q != nil && len(q.ops) == 1
	})
	open()
	p := fmt.Sprint(b.port())
	return d, a, b, []string{"+" + p, "-" + p}
}

// stoppedRunGone: the member's announcement is held in a listener, and the member leaves
// meanwhile: its disappearance is checked at once, by a queue of its own
// (TestFailureDetectorBlockedRemovalListenerHoldsNoOtherMembersCheck), and the member,
// answering, kept as a suspect; then the channel is stopped, its membership not listing
// the member any more, and the suspect is reported gone behind the held call.
func stoppedRunGone(t *testing.T) (*TCPFailureDetector, *mbNode, *mbNode, []string) {
	hold, entered, open := holdOnce()
	t.Cleanup(open)
	d := must(NewTCPFailureDetector(TCPFailureDetectorConfig{
		Probe: func(context.Context, channel.Member) error { return nil },
	}))
	nw := channeltest.NewNetwork()
	a := mbNew(t, nw, mbOpt{id: 1}, &holdAdded{hold: func(channel.Member) { hold() }}, d)
	b := mbNew(t, nw, mbOpt{id: 2})
	mbStart(t, a, b)
	waitClosed(t, entered, "the added member was not announced")
	mbStop(t, b)
	testutil.EventuallyTrue(t, testutil.WaitLimit, "the departure checked, the member kept", func() bool {
		return d.Stats().Suspects == 1
	})
	if err := returnsWithin(t, "Stop", open, func() error {
		return a.ch.Stop(within(t, testutil.WaitLimit), channel.SvcAll)
	}); err != nil {
		t.Fatalf("Stop with the announcement held: %v", err)
	}
	open()
	p := fmt.Sprint(b.port())
	return d, a, b, []string{"+" + p, "-" + p}
}

// TestFailureDetectorStopDuringARecheckAnnouncesNothing: a Stop that cut short a
// heartbeat's re-check (or a forced check) of a member the layer below lists but that had
// not answered took the cut check as passed, as for an event of the layer below passed
// through unchecked: the member, never found alive, was listed and announced as it
// stopped (and reported gone right after by the stopping membership). A re-check that
// could not be made now changes nothing: the member is announced neither way.
func TestFailureDetectorStopDuringARecheckAnnouncesNothing(t *testing.T) {
	for _, force := range []bool{false, true} {
		t.Run(map[bool]string{false: "heartbeat", true: "forced"}[force], func(t *testing.T) {
			var armed atomic.Bool
			checking := make(chan struct{})
			d := must(NewTCPFailureDetector(TCPFailureDetectorConfig{
				Probe: func(ctx context.Context, m channel.Member) error {
					if armed.CompareAndSwap(true, false) {
						close(checking)
						<-ctx.Done() // a connect cut short by the Stop
						return ctx.Err()
					}
					return fmt.Errorf("%w: %d does not answer", channel.ErrConnect, m.Port)
				},
			}))
			nw := channeltest.NewNetwork()
			a := mbNew(t, nw, mbOpt{id: 1}, d)
			b := mbNew(t, nw, mbOpt{id: 2})
			mbStart(t, a, b)
			testutil.EventuallyTrue(t, testutil.WaitLimit, "B checked", func() bool {
				return d.Settled() && d.Stats().AddSuspects == 1
			})
			armed.Store(true)
			if force {
				d.CheckMembers(true)
			} else {
				a.ch.Heartbeat()
			}
			waitClosed(t, checking, "B was not checked again")
			mbStop(t, a)
			testutil.EventuallyTrue(t, testutil.WaitLimit, "the detector settled", d.Settled)
			mbWantEvents(t, a)
		})
	}
}

// TestFailureDetectorStopReportsItsSuspectsGone: the layer below reports its members gone
// as it stops, but not the suspects the detector keeps (members it dropped that still
// answered), so a stopped detector went on listing them, for ever, its listener's last
// event for them their addition. The detector now reports them gone when it stops.
func TestFailureDetectorStopReportsItsSuspectsGone(t *testing.T) {
	alive := newAliveSet()
	d := newTestDetector(alive)
	nw := channeltest.NewNetwork()
	a := mbNew(t, nw, mbOpt{id: 1}, d)
	b := mbNew(t, nw, mbOpt{id: 2})
	alive.set(b.port(), true)
	mbStart(t, a, b)
	p := fmt.Sprint(b.port())
	testutil.EventuallyTrue(t, testutil.WaitLimit, "B announced", func() bool { return d.Settled() && len(a.evs()) == 1 })
	nw.Partition(a.net, b.net) // dropped below; B still answers
	testutil.EventuallyTrue(t, testutil.WaitLimit, "B kept as a suspect", func() bool {
		return d.Settled() && d.Stats().Suspects == 1
	})
	mbWantEvents(t, a, "+"+p)
	mbStop(t, a)
	testutil.EventuallyTrue(t, testutil.WaitLimit, "the detector settled", d.Settled)
	mbWantEvents(t, a, "+"+p, "-"+p)
	if got := mbPorts(a.ch.Members()); len(got) != 0 {
		t.Errorf("the stopped channel lists %v", got)
	}
	if st := d.Stats(); st.Suspects != 0 {
		t.Errorf("the stopped detector keeps suspects: %+v", st)
	}
}

// holdMember is a layer whose Member lookup of key calls hold first, once armed.
type holdMember struct {
	channel.InterceptorBase
	armed atomic.Bool
	key   channel.MemberKey
	hold  func()
}

func (h *holdMember) Member(k channel.MemberKey) (channel.Member, bool) {
	if k == h.key && h.armed.CompareAndSwap(true, false) {
		h.hold()
	}
	return h.Next().Member(k)
}

// TestFailureDetectorStopDuringASuspectsCheck: a member the layer below dropped, whose
// check passed just before the Stop, was kept as a suspect after the Stop reported the
// suspects gone (its goroutine decided once the Stop had looked): the stopped detector
// listed it for ever, its last event its addition. A member found alive once the detector
// stopped is now reported gone, as the suspects the Stop found.
func TestFailureDetectorStopDuringASuspectsCheck(t *testing.T) {
	hold, looking, open := holdOnce()
	defer open()
	var checkCtx atomic.Pointer[context.Context]
	d := must(NewTCPFailureDetector(TCPFailureDetectorConfig{
		Probe: func(ctx context.Context, _ channel.Member) error {
			checkCtx.Store(&ctx)
			return nil // answers
		},
	}))
	below := &holdMember{hold: hold}
	nw := channeltest.NewNetwork()
	a := mbNew(t, nw, mbOpt{id: 1}, d, below)
	b := mbNew(t, nw, mbOpt{id: 2})
	below.key = b.expected(2).Key()
	mbStart(t, a, b)
	p := fmt.Sprint(b.port())
	testutil.EventuallyTrue(t, testutil.WaitLimit, "B announced", func() bool { return d.Settled() && len(a.evs()) == 1 })
	below.armed.Store(true)
	nw.Partition(a.net, b.net) // dropped below: checked, answers, and held as it looks below
	waitClosed(t, looking, "B's check did not look below")
	stopped := make(chan error, 1)
	go func() { stopped <- a.ch.Stop(within(t, testutil.WaitLimit), channel.SvcAll) }()
	ended := make(chan struct{})
	go func() { <-(*checkCtx.Load()).Done(); close(ended) }()
	waitClosed(t, ended, "the Stop did not end the checks")
	open()
	if err := <-stopped; err != nil {
		t.Fatalf("Stop: %v", err)
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "the detector settled", d.Settled)
	mbWantEvents(t, a, "+"+p, "-"+p)
	if st := d.Stats(); st.Suspects != 0 {
		t.Errorf("the stopped detector keeps suspects: %+v", st)
	}
}
