package interceptors

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
)

// gatedStoppingListener stops its channel on the message whose data is "stop", once
// open was called.
type gatedStoppingListener struct {
	stoppingListener
	hold func()
}

func (l gatedStoppingListener) MessageReceived(m *channel.Message) error {
	l.hold()
	return l.stoppingListener.MessageReceived(m)
}

// TestFailureDetectorListenerStopsTheChannelWhileItsMembersRemovalWaits: the removal of a
// member whose held message is going up waits for that message, on the goroutine
// delivering the events; the message's listener stopping the channel meanwhile is not
// waited for by that Stop, which returns, and the removal goes up after the message.
func TestFailureDetectorListenerStopsTheChannelWhileItsMembersRemovalWaits(t *testing.T) {
	d := newTestDetector(newAliveSet()) // B never answers the check
	nw := channeltest.NewNetwork()
	a := mbNew(t, nw, mbOpt{id: 1, senderCheck: true}, d)
	b := mbNew(t, nw, mbOpt{id: 2})
	hold, entered, open := holdOnce()
	defer open()
	l := gatedStoppingListener{stoppingListener{ch: a.ch, stopped: make(chan error, 1)}, hold}
	a.ch.AddMessageListener(l)
	mbStart(t, a, b)
	testutil.EventuallyTrue(t, testutil.WaitLimit, "B checked, not answering", func() bool {
		return d.Settled() && d.Stats().AddSuspects == 1
	})
	res := make(chan error, 1)
	go func() { res <- d.MessageReceived(&channel.Message{Source: b.ch.LocalMember(), Data: []byte("stop")}) }()
	waitClosed(t, entered, "the held message did not go up")
	dropHeard(t, d, b)
	testutil.EventuallyTrue(t, testutil.WaitLimit, "the removal waits for the message", func() bool {
		d.mu.Lock()
		defer d.mu.Unlock()
		return d.leaving[b.expected(2).Key()] != nil
	})
	open()
	select {
	case err := <-l.stopped:
		if err != nil {
			t.Errorf("Stop from the listener: %v", err)
		}
	case <-time.After(testutil.WaitLimit):
		t.Fatal("the listener's Stop did not return while B's removal waited for its message")
	}
	if err := <-res; err != nil {
		t.Errorf("MessageReceived: %v", err)
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "the detector settled", d.Settled)
	p := fmt.Sprint(b.port())
	if got, want := a.orderLog(), []string{"+" + p, "msg:" + p, "-" + p}; !slices.Equal(got, want) {
		t.Errorf("A saw %v, want %v", got, want)
	}
	ctx, cancel := context.WithTimeout(context.Background(), testutil.WaitLimit)
	defer cancel()
	if err := d.stopping.await(ctx, "test"); err != nil {
		t.Errorf("the run did not end: %v", err)
	}
}

// TestFailureDetectorRemovalRunInsideItsHeldMessagesListener: a removal queued behind a
// member's held messages waits for the one going up, but when it is run from inside that
// message's listener (the listener stops the channel, whose Stop runs the events queue on
// the listener's goroutine, before the goroutine that dropped the member ran it: here the
// drop is made by the test, which leaves the queue to the listener), waiting would wait
// for itself: it leaves the messages to the goroutine passing them, which passes them up
// after the removal, and the Stop returns.
func TestFailureDetectorRemovalRunInsideItsHeldMessagesListener(t *testing.T) {
	d := newTestDetector(newAliveSet()) // B never answers the check
	nw := channeltest.NewNetwork()
	a := mbNew(t, nw, mbOpt{id: 1}, d)
	b := mbNew(t, nw, mbOpt{id: 2})
	hold, entered, open := holdOnce()
	defer open()
	l := gatedStoppingListener{stoppingListener{ch: a.ch, stopped: make(chan error, 1)}, hold}
	a.ch.AddMessageListener(l)
	mbStart(t, a, b)
	testutil.EventuallyTrue(t, testutil.WaitLimit, "B checked, not answering", func() bool {
		return d.Settled() && d.Stats().AddSuspects == 1
	})
	k := b.expected(2).Key()
	res := make(chan error, 2)
	go func() { res <- d.MessageReceived(&channel.Message{Source: b.ch.LocalMember(), Data: []byte("stop")}) }()
	waitClosed(t, entered, "the held message did not go up")
	go func() { res <- d.MessageReceived(&channel.Message{Source: b.ch.LocalMember(), Data: []byte("x")}) }()
	testutil.EventuallyTrue(t, testutil.WaitLimit, "x held", func() bool {
		return slices.Equal(heldData(d, k), []string{"x"})
	})
	// A failed check drops B: its removal is queued behind its held messages, and the
	// events queue is not run here (the checking goroutine would run it next).
	d.evMu.Lock()
	d.mu.Lock()
	m := d.view[k]
	d.dropLocked(d.run, k, m)
	d.mu.Unlock()
	d.evMu.Unlock()
	open()
	select {
	case err := <-l.stopped:
		if err != nil {
			t.Errorf("Stop from the listener: %v", err)
		}
	case <-time.After(testutil.WaitLimit):
		t.Fatal("the listener's Stop did not return: the removal it ran waits for the listener")
	}
	for range 2 {
		if err := <-res; err != nil {
			t.Errorf("MessageReceived: %v", err)
		}
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "the detector settled", func() bool {
		return d.Settled() && len(a.received()) == 2
	})
	p := fmt.Sprint(b.port())
	if got, want := a.orderLog(), []string{"+" + p, "msg:" + p, "-" + p, "msg:" + p}; !slices.Equal(got, want) {
		t.Errorf("A saw %v, want %v", got, want)
	}
}

// TestFailureDetectorBlockedHeldMessageHoldsItsMembersRemoval: a message listener that
// blocks on a message held behind its member's announcement holds no membership event
// (TestFailureDetectorHeldMessageDoesNotHoldTheEvents) until the member is dropped: its
// removal waits for the message, on the goroutine delivering the events, and so do the
// events behind it (another member found answering is announced once the listener
// returned, after the removal), while the membership's reports still return at once.
func TestFailureDetectorBlockedHeldMessageHoldsItsMembersRemoval(t *testing.T) {
	nw := channeltest.NewNetwork()
	alive := newAliveSet() // neither B nor C answers the check yet
	d := newTestDetector(alive)
	a := mbNew(t, nw, mbOpt{id: 1}, d)
	b := mbNew(t, nw, mbOpt{id: 2})
	c := mbNew(t, nw, mbOpt{id: 3})
	hold, held, open := holdOnce()
	defer open()
	a.ch.AddMessageListener(blockingListener{hold: hold})
	mbStart(t, a, b, c)
	testutil.EventuallyTrue(t, testutil.WaitLimit, "B and C not answering", func() bool {
		return d.Settled() && d.Stats().AddSuspects == 2
	})
	pb, pc := fmt.Sprint(b.port()), fmt.Sprint(c.port())
	res := make(chan error, 1)
	go func() { res <- d.MessageReceived(&channel.Message{Source: b.ch.LocalMember(), Data: []byte("slow")}) }()
	waitClosed(t, held, "B's message did not go up")
	dropHeard(t, d, b) // returns at once: the removal waits on another goroutine
	alive.set(c.port(), true)
	a.ch.Heartbeat()
	testutil.EventuallyTrue(t, testutil.WaitLimit, "C verified", func() bool {
		d.mu.Lock()
		defer d.mu.Unlock()
		_, ok := d.view[c.expected(3).Key()]
		return ok
	})
	if got := a.evs(); !slices.Equal(got, []string{"+" + pb}) {
		t.Errorf("while B's message is held up in a listener A saw %v, want [+%s] (B's removal and C's addition wait)", got, pb)
	}
	open()
	if err := <-res; err != nil {
		t.Errorf("MessageReceived: %v", err)
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "the detector settled", func() bool {
		return d.Settled() && len(a.evs()) == 3
	})
	if got, want := a.orderLog(), []string{"+" + pb, "msg:" + pb, "-" + pb, "+" + pc}; !slices.Equal(got, want) {
		t.Errorf("A saw %v, want %v", got, want)
	}
}
