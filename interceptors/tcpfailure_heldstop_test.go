package interceptors

import (
	"context"
	"fmt"
	"slices"
	"sync"
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
	alive := newAliveSet() // neither B nor C answers the check yet
	d := newTestDetector(alive)
	hold, held, open := holdOnce()
	defer open()
	a, b, c := abcUnanswered(t, d, func(a, _ *mbNode) { a.ch.AddMessageListener(blockingListener{hold: hold}) })
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

// TestFailureDetectorRemovalWaitsForAnEarlierSetsMessages: a removal run from inside the
// listener of one of its member's held messages leaves the others to the goroutine
// passing them, after the removal (TestFailureDetectorRemovalRunInsideItsHeldMessagesListener).
// A message of the member that came later, with the channel restarted, listed it again
// and was held behind that earlier set; but when the member was dropped again, its removal
// passed that later message up at once, without waiting for the earlier set, so it went up
// before the earlier messages still held up in their listener, out of the order they came.
// The removal now waits for the earlier set first.
func TestFailureDetectorRemovalWaitsForAnEarlierSetsMessages(t *testing.T) {
	d := newTestDetector(newAliveSet()) // B never answers the check
	nw := channeltest.NewNetwork()
	a := mbNew(t, nw, mbOpt{id: 1}, d)
	b := mbNew(t, nw, mbOpt{id: 2})
	holdStop, stopEntered, openStop := holdOnce()
	holdX, xEntered, openX := holdOnce()
	defer openStop()
	defer openX()
	l := gatedStoppingListener{stoppingListener{ch: a.ch, stopped: make(chan error, 1)}, holdStop}
	a.ch.AddMessageListener(l)
	var mu sync.Mutex
	var got []string // messages, once their listener returned
	a.ch.AddMessageListener(channel.MessageListenerFunc(func(m *channel.Message) error {
		if string(m.Data) == "x" {
			holdX()
		}
		mu.Lock()
		defer mu.Unlock()
		got = append(got, string(m.Data))
		return nil
	}))
	delivered := func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(got)
	}
	mbStart(t, a, b)
	testutil.EventuallyTrue(t, testutil.WaitLimit, "B checked, not answering", func() bool {
		return d.Settled() && d.Stats().AddSuspects == 1
	})
	k := b.expected(2).Key()
	src := b.ch.LocalMember()
	res := make(chan error, 3)
	go func() { res <- d.MessageReceived(&channel.Message{Source: src, Data: []byte("stop")}) }()
	waitClosed(t, stopEntered, "the held message did not go up")
	go func() { res <- d.MessageReceived(&channel.Message{Source: src, Data: []byte("x")}) }()
	testutil.EventuallyTrue(t, testutil.WaitLimit, "x held", func() bool {
		return slices.Equal(heldData(d, k), []string{"x"})
	})
	// A failed check drops B, its removal left in the queue, which the listener's Stop runs.
	d.evMu.Lock()
	d.mu.Lock()
	d.dropLocked(d.run, k, d.view[k])
	d.mu.Unlock()
	d.evMu.Unlock()
	openStop()
	select {
	case err := <-l.stopped:
		if err != nil {
			t.Fatalf("Stop from the listener: %v", err)
		}
	case <-time.After(testutil.WaitLimit):
		t.Fatal("the listener's Stop did not return")
	}
	waitClosed(t, xEntered, "x did not go up after B's removal")
	if err := returnsWithin(t, "Start", openX, func() error {
		return a.ch.Start(within(t, testutil.WaitLimit), channel.SvcAll)
	}); err != nil {
		t.Fatalf("Start with x held: %v", err)
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "B listed below again", func() bool {
		_, below := d.Next().Member(k)
		return below
	})
	// y lists B again, held behind x's set; then B is dropped again.
	go func() { res <- d.MessageReceived(&channel.Message{Source: src, Data: []byte("y")}) }()
	testutil.EventuallyTrue(t, testutil.WaitLimit, "y held", func() bool {
		return slices.Equal(heldData(d, k), []string{"y"})
	})
	dropHeard(t, d, b)
	testutil.EventuallyTrue(t, testutil.WaitLimit, "B's second removal under way", func() bool {
		return slices.Contains(delivered(), "y") || d.events.Len() == 0 && !d.events.Idle()
	})
	openX()
	for range 3 {
		if err := <-res; err != nil {
			t.Errorf("MessageReceived: %v", err)
		}
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "the detector settled", func() bool {
		return d.Settled() && len(delivered()) == 3
	})
	if got, want := delivered(), []string{"stop", "x", "y"}; !slices.Equal(got, want) {
		t.Errorf("messages went up as %v, want %v (the order they came)", got, want)
	}
}
