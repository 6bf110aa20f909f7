package interceptors

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
)

// TestFailureDetectorSlowListenerDoesNotHoldTheReceivePath: a message of a member the
// detector had not verified lists the member and announces it before the message goes up.
// The goroutine that received the message waited until the announcement went up, and ran
// the membership listeners itself when no other goroutine was delivering events, so a
// listener that blocked in MemberAdded held the transport's receive goroutine for as long
// as it blocked: the messages of other members behind it on that goroutine (one
// connection's worker, a pool of one) were not delivered. The message now goes up behind
// the announcement, on the goroutine delivering the events, and the receive goroutine waits
// for it a bounded time only (heardFromWait): a verified member's message received next
// goes up while the listener still blocks, and the member's own messages follow its
// announcement, in the order they came.
func TestFailureDetectorSlowListenerDoesNotHoldTheReceivePath(t *testing.T) {
	nw := channeltest.NewNetwork()
	alive := newAliveSet() // B does not answer the check: it is not listed
	d := newTestDetector(alive)
	a := mbNew(t, nw, mbOpt{id: 1}, d)
	b := mbNew(t, nw, mbOpt{id: 2})
	c := mbNew(t, nw, mbOpt{id: 3})
	alive.set(c.port(), true)
	mbStart(t, a, b, c)
	pb, pc := fmt.Sprint(b.port()), fmt.Sprint(c.port())
	testutil.EventuallyTrue(t, testutil.WaitLimit, "C verified, B not answering", func() bool {
		return d.Settled() && d.Stats().AddSuspects == 1 && len(a.evs()) == 1
	})
	mbWantEvents(t, a, "+"+pc)

	hold, held, open := holdOnce()
	defer open()
	a.ch.AddMembershipListener(channel.MembershipFuncs{
		Added: func(m channel.Member) {
			if m.Port == b.port() {
				hold()
			}
		},
		Disappeared: func(channel.Member) {},
	})

	// One receive goroutine, as one connection's worker: B's message, C's, B's again.
	msgs := []*channel.Message{
		{Source: b.ch.LocalMember(), Data: []byte("b1")},
		{Source: c.ch.LocalMember(), Data: []byte("c1")},
		{Source: b.ch.LocalMember(), Data: []byte("b2")},
	}
	received := make(chan error, 1)
	go func() {
		var errs []error
		for _, m := range msgs {
			errs = append(errs, d.MessageReceived(m))
		}
		received <- errors.Join(errs...)
	}()
	waitClosed(t, held, "B was not announced")
	data := func() []string {
		var out []string
		for _, m := range a.received() {
			out = append(out, string(m.Data))
		}
		return out
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "C's message delivered while the listener blocks in B's MemberAdded", func() bool {
		return slices.Contains(data(), "c1")
	})
	if got := data(); !slices.Equal(got, []string{"c1"}) {
		t.Fatalf("delivered %v while B's announcement is under way, want [c1]", got)
	}

	open()
	testutil.EventuallyTrue(t, testutil.WaitLimit, "every message delivered", func() bool {
		return len(data()) == 3 && d.Settled()
	})
	if err := <-received; err != nil {
		t.Fatalf("MessageReceived: %v", err)
	}
	if got, want := data(), []string{"c1", "b1", "b2"}; !slices.Equal(got, want) {
		t.Errorf("delivered %v, want %v", got, want)
	}
	// A's recording listener is called before the blocking one: B's addition is recorded
	// first, and its messages follow once the blocking listener returned.
	if got, want := a.orderLog(), []string{"+" + pc, "+" + pb, "msg:" + pc, "msg:" + pb, "msg:" + pb}; !slices.Equal(got, want) {
		t.Errorf("A saw %v, want %v", got, want)
	}
	if _, ok := d.Member(b.expected(2).Key()); !ok {
		t.Error("the detector does not list B, heard from")
	}
}

// failingListener takes the messages whose data is "fail" and fails them.
type failingListener struct{}

func (failingListener) Accept(m *channel.Message) bool { return string(m.Data) == "fail" }

func (failingListener) MessageReceived(*channel.Message) error { return errors.New("refused") }

// TestFailureDetectorHeardFromReturnsTheMessagesError: the message that lists its member
// again goes up on the goroutine delivering the events, but when the listeners return in
// time the receive goroutine still returns what the layers above returned (a FAIL_ACK for
// a synchronized-ack sender), after the announcement and the message went up.
func TestFailureDetectorHeardFromReturnsTheMessagesError(t *testing.T) {
	nw := channeltest.NewNetwork()
	alive := newAliveSet() // B does not answer the check: it is not listed
	d := newTestDetector(alive)
	a := mbNew(t, nw, mbOpt{id: 1}, d)
	b := mbNew(t, nw, mbOpt{id: 2})
	a.ch.AddMessageListener(failingListener{})
	mbStart(t, a, b)
	testutil.EventuallyTrue(t, testutil.WaitLimit, "B not answering", func() bool {
		return d.Settled() && d.Stats().AddSuspects == 1
	})
	err := d.MessageReceived(&channel.Message{Source: b.ch.LocalMember(), Data: []byte("fail")})
	if err == nil || err.Error() != "refused" {
		t.Fatalf("MessageReceived = %v, want the listener's error", err)
	}
	p := fmt.Sprint(b.port())
	if got, want := a.orderLog(), []string{"+" + p, "msg:" + p}; !slices.Equal(got, want) {
		t.Fatalf("A saw %v when MessageReceived returned, want %v", got, want)
	}
}

// blockingListener takes the messages whose data is "slow" and holds them until open is
// called, and panics on those whose data is "panic".
type blockingListener struct {
	hold func()
}

func (l blockingListener) Accept(m *channel.Message) bool {
	return string(m.Data) == "slow" || string(m.Data) == "panic"
}

func (l blockingListener) MessageReceived(m *channel.Message) error {
	if string(m.Data) == "panic" {
		panic("listener")
	}
	l.hold()
	return nil
}

// TestFailureDetectorHeldMessageDoesNotHoldTheEvents: the message that lists its member
// again goes up from a goroutine of its own once the announcement went up, not from the
// goroutine delivering the membership events: a message listener that blocks on it holds
// neither the receive goroutine (beyond heardFromWait) nor the membership events that
// follow (another member found answering is announced meanwhile). A panic of the layers
// above on such a message is returned as an error.
func TestFailureDetectorHeldMessageDoesNotHoldTheEvents(t *testing.T) {
	alive := newAliveSet() // neither B nor C answers the check yet
	d := newTestDetector(alive)
	hold, held, open := holdOnce()
	defer open()
	a, b, c := abcUnanswered(t, d, func(a, _ *mbNode) { a.ch.AddMessageListener(blockingListener{hold: hold}) })
	pb, pc := fmt.Sprint(b.port()), fmt.Sprint(c.port())
	res := make(chan error, 1)
	go func() { res <- d.MessageReceived(&channel.Message{Source: b.ch.LocalMember(), Data: []byte("slow")}) }()
	var err error
	select {
	case err = <-res:
	case <-time.After(testutil.WaitLimit):
		open()
		<-res
		t.Fatalf("MessageReceived of a message held up there still waits after %v", testutil.WaitLimit)
	}
	if err != nil {
		t.Fatalf("MessageReceived of a message held up there: %v", err)
	}
	waitClosed(t, held, "B's message did not go up")
	alive.set(c.port(), true)
	a.ch.Heartbeat()
	testutil.EventuallyTrue(t, testutil.WaitLimit, "C announced while B's message is held up there", func() bool {
		return slices.Equal(a.evs(), []string{"+" + pb, "+" + pc})
	})
	open()
	testutil.EventuallyTrue(t, testutil.WaitLimit, "the detector settled", d.Settled)

	// C's first message after it went dead and came back: the layers above panic on it.
	alive.set(c.port(), false)
	d.MemberDisappeared(c.expected(3)) // the layer below still lists C: dropped as not answering
	testutil.EventuallyTrue(t, testutil.WaitLimit, "C dropped", func() bool {
		return d.Settled() && len(a.evs()) == 3
	})
	err = d.MessageReceived(&channel.Message{Source: c.ch.LocalMember(), Data: []byte("panic")})
	if err == nil || !strings.Contains(err.Error(), "panicked") {
		t.Fatalf("MessageReceived of a message the layers above panicked on: %v, want an error", err)
	}
	if got, want := a.evs(), []string{"+" + pb, "+" + pc, "-" + pc, "+" + pc}; !slices.Equal(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
}
