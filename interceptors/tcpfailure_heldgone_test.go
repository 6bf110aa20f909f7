package interceptors

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
)

// heldBehindBlockedAnnouncement starts A (detector d) and B, B not answering its checks,
// has a message of B (x1) list B, its announcement held in a membership listener until
// open is called, and a second message of B (x2) held behind it; it returns the results
// of the two MessageReceived calls.
func heldBehindBlockedAnnouncement(t *testing.T, senderCheck bool) (d *TCPFailureDetector, a, b *mbNode, res chan error, open func()) {
	t.Helper()
	d = newTestDetector(newAliveSet()) // B never answers the check
	nw := channeltest.NewNetwork()
	a = mbNew(t, nw, mbOpt{id: 1, senderCheck: senderCheck}, d)
	b = mbNew(t, nw, mbOpt{id: 2})
	hold, held, open := holdOnce()
	t.Cleanup(open)
	a.ch.AddMembershipListener(channel.MembershipFuncs{
		Added:       func(channel.Member) { hold() },
		Disappeared: func(channel.Member) {},
	})
	mbStart(t, a, b)
	testutil.EventuallyTrue(t, testutil.WaitLimit, "B checked, not answering", func() bool {
		return d.Settled() && d.Stats().AddSuspects == 1
	})
	k := b.expected(2).Key()
	res = make(chan error, 3)
	go func() { res <- d.MessageReceived(&channel.Message{Source: b.ch.LocalMember(), Data: []byte("x1")}) }()
	waitClosed(t, held, "B's announcement did not go up")
	go func() { res <- d.MessageReceived(&channel.Message{Source: b.ch.LocalMember(), Data: []byte("x2")}) }()
	testutil.EventuallyTrue(t, testutil.WaitLimit, "x2 held behind x1", func() bool {
		return slices.Equal(heldData(d, k), []string{"x1", "x2"})
	})
	return d, a, b, res, open
}

// dropHeard has the detector drop B (reported gone below, its check failing) and waits
// until it no longer lists it.
func dropHeard(t *testing.T, d *TCPFailureDetector, b *mbNode) {
	t.Helper()
	k := b.expected(2).Key()
	d.MemberDisappeared(b.expected(2))
	testutil.EventuallyTrue(t, testutil.WaitLimit, "B dropped", func() bool {
		d.mu.Lock()
		defer d.mu.Unlock()
		_, listed := d.view[k]
		return !listed
	})
}

// TestFailureDetectorHeldMessagesGoUpBeforeTheirMembersRemoval: messages of a member the
// detector had not verified are held behind the member's announcement. When the member
// was dropped again (a failed check) before they went up, its disappearance, queued after
// the announcement, went up on the goroutine delivering the events as soon as the
// announcement had, while the messages went up from another goroutine, so a listener saw
// "+B -B msg msg" (messages of a member after it was reported gone), and with the
// channel's sender check (the default) the messages, which came while B was listed, were
// dropped as a non-member's. The messages held when the member is dropped now go up
// before its disappearance, the member still a member for the sender check meanwhile.
func TestFailureDetectorHeldMessagesGoUpBeforeTheirMembersRemoval(t *testing.T) {
	for _, senderCheck := range []bool{true, false} {
		t.Run(fmt.Sprintf("senderCheck=%v", senderCheck), func(t *testing.T) {
			d, a, b, res, open := heldBehindBlockedAnnouncement(t, senderCheck)
			dropHeard(t, d, b)
			open()
			for range 2 {
				if err := <-res; err != nil {
					t.Errorf("MessageReceived: %v", err)
				}
			}
			testutil.EventuallyTrue(t, testutil.WaitLimit, "the detector settled", func() bool {
				return d.Settled() && len(a.evs()) == 2
			})
			p := fmt.Sprint(b.port())
			if got, want := a.orderLog(), []string{"+" + p, "msg:" + p, "msg:" + p, "-" + p}; !slices.Equal(got, want) {
				t.Errorf("A saw %v, want %v", got, want)
			}
			if n := a.ch.Stats().NonMemberDropped; n != 0 {
				t.Errorf("%d messages dropped as a non-member's", n)
			}
			if _, ok := d.Member(b.expected(2).Key()); ok {
				t.Error("the detector still lists B after its removal went up")
			}
		})
	}
}

// stoppingListener stops its channel on the message whose data is "stop".
type stoppingListener struct {
	ch      *channel.Channel
	stopped chan error
}

func (l stoppingListener) Accept(m *channel.Message) bool { return string(m.Data) == "stop" }

func (l stoppingListener) MessageReceived(*channel.Message) error {
	ctx, cancel := context.WithTimeout(context.Background(), testutil.WaitLimit)
	defer cancel()
	l.stopped <- l.ch.Stop(ctx, channel.SvcAll)
	return nil
}

// TestFailureDetectorHeldMessageWhoseListenerStopsTheChannel: the removal of a member
// waits for its held messages to go up, but a listener of one that stops the channel has
// the stopping membership report the member gone on the listener's own goroutine: the
// stopped detector passes that removal through without waiting for the message, and the
// Stop returns. The removal goes up from the goroutine delivering the events: the
// listener's own, or, when the goroutine that delivered the member's announcement has
// not left the events queue yet, that one, which may pass it up after the Stop and
// MessageReceived returned (TestFailureDetectorStopInsideAHeldListenerLeavesItsRemovalsToTheDeliveringGoroutine
// holds that goroutine). So the test waits for the removal (the detector settled) before
// it reads the order: it read it as soon as MessageReceived returned, and failed under
// load, the removal not lost but still to go up ("+B msg").
func TestFailureDetectorHeldMessageWhoseListenerStopsTheChannel(t *testing.T) {
	d := newTestDetector(newAliveSet()) // B never answers the check
	nw := channeltest.NewNetwork()
	a := mbNew(t, nw, mbOpt{id: 1, senderCheck: true}, d)
	b := mbNew(t, nw, mbOpt{id: 2})
	l := stoppingListener{ch: a.ch, stopped: make(chan error, 1)}
	a.ch.AddMessageListener(l)
	mbStart(t, a, b)
	testutil.EventuallyTrue(t, testutil.WaitLimit, "B checked, not answering", func() bool {
		return d.Settled() && d.Stats().AddSuspects == 1
	})
	res := make(chan error, 1)
	go func() { res <- d.MessageReceived(&channel.Message{Source: b.ch.LocalMember(), Data: []byte("stop")}) }()
	select {
	case err := <-l.stopped:
		if err != nil {
			t.Errorf("Stop from the listener: %v", err)
		}
	case <-time.After(testutil.WaitLimit):
		t.Fatal("the listener's Stop did not return: the removal it led to waits for the listener")
	}
	if err := <-res; err != nil {
		t.Errorf("MessageReceived: %v", err)
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "B's removal went up, the detector settled", func() bool {
		return d.Settled() && len(a.evs()) == 2
	})
	p := fmt.Sprint(b.port())
	if got, want := a.orderLog(), []string{"+" + p, "msg:" + p, "-" + p}; !slices.Equal(got, want) {
		t.Errorf("A saw %v, want %v", got, want)
	}
}

// TestFailureDetectorMessageAfterItsMembersRemovalListsItAgain: a message of a member
// whose messages were held behind its announcement joined them, whatever the member's
// listing, so one that came after the detector had dropped the member again (a failed
// check), while those were still held, did not list it again, as a message of an unlisted
// member of the layer below does: the member stayed unlisted although it had just been
// heard from and the layer below listed it (Channel.Members without it until a check
// passed), and the message went up as a member's before the removal although it came
// after it. Such a message now lists the member again behind the removal, and goes up
// after that announcement: "+B x1 x2 -B +B y".
func TestFailureDetectorMessageAfterItsMembersRemovalListsItAgain(t *testing.T) {
	d, a, b, res, open := heldBehindBlockedAnnouncement(t, true)
	k := b.expected(2).Key()
	dropHeard(t, d, b)
	go func() { res <- d.MessageReceived(&channel.Message{Source: b.ch.LocalMember(), Data: []byte("y")}) }()
	testutil.EventuallyTrue(t, testutil.WaitLimit, "y held", func() bool {
		return slices.Contains(heldData(d, k), "y")
	})
	open()
	for range 3 {
		if err := <-res; err != nil {
			t.Errorf("MessageReceived: %v", err)
		}
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "the detector settled", func() bool {
		return d.Settled() && len(a.received()) == 3
	})
	p := fmt.Sprint(b.port())
	want := []string{"+" + p, "msg:" + p, "msg:" + p, "-" + p, "+" + p, "msg:" + p}
	if got := a.orderLog(); !slices.Equal(got, want) {
		t.Errorf("A saw %v, want %v", got, want)
	}
	var data []string
	for _, m := range a.received() {
		data = append(data, string(m.Data))
	}
	if !slices.Equal(data, []string{"x1", "x2", "y"}) {
		t.Errorf("delivered %v, want [x1 x2 y]", data)
	}
	if _, ok := d.Member(k); !ok {
		t.Error("the detector does not list B, heard from after its removal and listed below")
	}
	if !slices.Contains(mbPorts(a.ch.Members()), b.port()) {
		t.Errorf("A's members %v, want B (%d) among them", mbPorts(a.ch.Members()), b.port())
	}
}

// TestFailureDetectorMessageAfterItsMembersRemovalGoesUpAfterIt: a message of a member
// whose removal was queued behind its held messages, once the layer below no longer lists
// the member either, does not list it again: it is held behind the removal, and goes up
// after the messages before it, as a non-member's (here accepted: Config.AcceptNonMembers).
func TestFailureDetectorMessageAfterItsMembersRemovalGoesUpAfterIt(t *testing.T) {
	d, a, b, res, open := heldBehindBlockedAnnouncement(t, false)
	k := b.expected(2).Key()
	src := b.ch.LocalMember()
	mbStop(t, b) // the layer below drops B: reported gone, dropped
	testutil.EventuallyTrue(t, testutil.WaitLimit, "B dropped", func() bool {
		d.mu.Lock()
		defer d.mu.Unlock()
		_, listed := d.view[k]
		return !listed
	})
	if _, below := d.Next().Member(k); below {
		t.Fatal("the layer below still lists B")
	}
	go func() { res <- d.MessageReceived(&channel.Message{Source: src, Data: []byte("y")}) }()
	testutil.EventuallyTrue(t, testutil.WaitLimit, "y held", func() bool {
		return slices.Contains(heldData(d, k), "y")
	})
	open()
	for range 3 {
		if err := <-res; err != nil {
			t.Errorf("MessageReceived: %v", err)
		}
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "the detector settled", func() bool {
		return d.Settled() && len(a.received()) == 3
	})
	p := fmt.Sprint(b.port())
	var data []string
	for _, m := range a.received() {
		data = append(data, string(m.Data))
	}
	got := a.orderLog()
	if len(got) != 5 || got[4] != "msg:"+p || !slices.Equal(data, []string{"x1", "x2", "y"}) || !strings.HasPrefix(got[3], "-"+p) {
		t.Errorf("A saw %v (messages %v), want B's addition, x1, x2, its removal, y", got, data)
	}
	if _, ok := d.Member(k); ok {
		t.Error("the detector lists B, which the layer below dropped")
	}
}

// TestFailureDetectorMemberAndMembersAgreeWhileARemovalWaits: a member dropped while its
// messages were held behind its announcement was still found by Member until its removal
// went up (so that the channel's sender check passes those messages), but Members no
// longer listed it: the detector said two things at once. Members now lists such a member
// too, after the others, until its removal goes up, so both say the same at every step.
func TestFailureDetectorMemberAndMembersAgreeWhileARemovalWaits(t *testing.T) {
	d, a, b, res, open := heldBehindBlockedAnnouncement(t, true)
	k := b.expected(2).Key()
	agree := func(step string, want bool) {
		t.Helper()
		_, found := d.Member(k)
		listed := slices.Contains(mbPorts(d.Members()), b.port())
		_, chFound := a.ch.Member(k)
		chListed := slices.Contains(mbPorts(a.ch.Members()), b.port())
		if found != want || listed != want || chFound != want || chListed != want {
			t.Errorf("%s: detector Member %v, Members %v; channel Member %v, Members %v; want all %v",
				step, found, listed, chFound, chListed, want)
		}
	}
	agree("B listed, its messages held", true)
	dropHeard(t, d, b)
	agree("B dropped, its removal waiting for its messages", true)
	open()
	for range 2 {
		if err := <-res; err != nil {
			t.Errorf("MessageReceived: %v", err)
		}
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "B's removal went up", func() bool {
		return d.Settled() && len(a.evs()) == 2
	})
	agree("B's removal went up", false)
}
