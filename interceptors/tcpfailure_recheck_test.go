package interceptors

import (
	"sync/atomic"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
)

// lateMembers is a layer whose Members, once armed, looks below and then calls hold
// before it returns what it found.
type lateMembers struct {
	channel.InterceptorBase
	armed atomic.Bool
	hold  func()
}

func (l *lateMembers) Members() []channel.Member {
	ms := l.Next().Members()
	if l.armed.CompareAndSwap(true, false) {
		l.hold()
	}
	return ms
}

// TestFailureDetectorRecheckOfAMemberDroppedMeanwhile: a heartbeat re-checks the members
// the layer below lists that the detector has not verified, as it found them before
// queuing the checks. When the layer below dropped such a member between that look and
// its check (its disappearance, of a member not listed yet, changing nothing) and the
// member then answered, it was listed and announced all the same, and stayed listed for
// ever: no heartbeat re-checks a member the layer below does not list, and no later
// event removes it. A re-check that passes now lists the member only if the layer below
// still lists it.
func TestFailureDetectorRecheckOfAMemberDroppedMeanwhile(t *testing.T) {
	hold, looked, open := holdOnce()
	defer open()
	alive := newAliveSet() // B does not answer at first
	d := newTestDetector(alive)
	below := &lateMembers{hold: hold}
	nw := channeltest.NewNetwork()
	a := mbNew(t, nw, mbOpt{id: 1}, d, below)
	b := mbNew(t, nw, mbOpt{id: 2})
	mbStart(t, a, b)
	testutil.EventuallyTrue(t, testutil.WaitLimit, "B checked, not answering", func() bool {
		return d.Settled() && d.Stats().AddSuspects == 1
	})

	// A heartbeat finds B listed below and unverified, and is held there; the layer below
	// drops B meanwhile, and B answers from now on.
	alive.set(b.port(), true)
	below.armed.Store(true)
	scheduled := make(chan struct{})
	go func() { defer close(scheduled); d.CheckMembers(false) }()
	waitClosed(t, looked, "the heartbeat did not look below")
	nw.Partition(a.net, b.net)
	testutil.EventuallyTrue(t, testutil.WaitLimit, "B's disappearance applied", d.Settled)
	open()
	waitClosed(t, scheduled, "the heartbeat did not queue its checks")
	testutil.EventuallyTrue(t, testutil.WaitLimit, "the re-checks ended", d.Settled)
	if _, ok := d.Member(b.expected(2).Key()); ok {
		t.Errorf("the detector lists B, which the layer below dropped (events %v)", a.evs())
	}
	mbWantEvents(t, a)

	// Later heartbeats do not mend it.
	a.ch.Heartbeat()
	testutil.EventuallyTrue(t, testutil.WaitLimit, "the heartbeat's checks ended", d.Settled)
	if got := mbPorts(a.ch.Members()); len(got) != 0 {
		t.Errorf("the channel lists %v after a heartbeat", got)
	}
}
