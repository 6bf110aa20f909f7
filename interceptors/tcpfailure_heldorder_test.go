package interceptors

import (
	"fmt"
	"slices"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
)

// heldData returns the data of the messages of k held behind its announcement.
func heldData(d *TCPFailureDetector, k channel.MemberKey) []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []string
	if hs := d.held[k]; hs != nil {
		for _, h := range hs.msgs {
			out = append(out, string(h.msg.Data))
		}
	}
	return out
}

// TestFailureDetectorHeldMessagesOfAMemberDroppedMeanwhileKeepTheirOrder: a message of a
// member the detector had not verified lists the member and is held behind its
// announcement; the member's later messages are held behind it. A message that looked for
// the member before that listing, and took the detector's locks after the member was
// dropped again (a failed check) while the first message was still held, found the member
// unlisted and listed it again with a second set of held messages that replaced the first
// one: its message went up from a goroutine of its own once the second announcement went
// up, in parallel with the first set, overtaking the member's earlier message (here while
// that one is still held by a blocking membership listener). A member's messages are now
// held behind those of it still held: the removal passes the earlier ones up before it
// goes up, and the later one lists the member again behind it
// (TestFailureDetectorMessageAfterItsMembersRemovalListsItAgain), so they go up in the
// order they came.
func TestFailureDetectorHeldMessagesOfAMemberDroppedMeanwhileKeepTheirOrder(t *testing.T) {
	look, looked, openLook := holdOnce()
	defer openLook()
	alive := newAliveSet() // B never answers the check
	d := newTestDetector(alive)
	below := &lateMember{hold: look}
	nw := channeltest.NewNetwork()
	a := mbNew(t, nw, mbOpt{id: 1}, d, below)
	b := mbNew(t, nw, mbOpt{id: 2})
	k := b.expected(2).Key()
	below.key = k
	hold, held, open := holdOnce()
	defer open()
	a.ch.AddMembershipListener(channel.MembershipFuncs{
		Added:       func(channel.Member) { hold() },
		Disappeared: func(channel.Member) {},
	})
	mbStart(t, a, b)
	testutil.EventuallyTrue(t, testutil.WaitLimit, "B checked, not answering", func() bool {
		return d.Settled() && d.Stats().AddSuspects == 1
	})

	// Y's message looks below before B is listed, and is held there.
	below.armed.Store(true)
	res := make(chan error, 2)
	go func() { res <- d.MessageReceived(&channel.Message{Source: b.ch.LocalMember(), Data: []byte("y")}) }()
	waitClosed(t, looked, "Y's message did not look below")
	// X's message lists B; its announcement is held in a membership listener.
	go func() { res <- d.MessageReceived(&channel.Message{Source: b.ch.LocalMember(), Data: []byte("x")}) }()
	waitClosed(t, held, "B's announcement did not go up")
	// B is dropped again (a send failed, the check fails) while X's message is held.
	d.MemberDisappeared(b.expected(2))
	testutil.EventuallyTrue(t, testutil.WaitLimit, "B dropped", func() bool {
		d.mu.Lock()
		defer d.mu.Unlock()
		_, listed := d.view[k]
		return !listed
	})
	openLook()
	testutil.EventuallyTrue(t, testutil.WaitLimit, "Y's message held", func() bool {
		return slices.Contains(heldData(d, k), "y")
	})
	if got := heldData(d, k); !slices.Equal(got, []string{"y"}) {
		t.Errorf("B's held messages %v, want [y] (X's behind the removal, Y's behind it)", got)
	}
	open()
	for range 2 {
		if err := <-res; err != nil {
			t.Fatalf("MessageReceived: %v", err)
		}
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "the detector settled", d.Settled)
	p := fmt.Sprint(b.port())
	if got, want := a.orderLog(), []string{"+" + p, "msg:" + p, "-" + p, "+" + p, "msg:" + p}; !slices.Equal(got, want) {
		t.Errorf("A saw %v, want %v", got, want)
	}
	var data []string
	for _, m := range a.received() {
		data = append(data, string(m.Data))
	}
	if !slices.Equal(data, []string{"x", "y"}) {
		t.Errorf("delivered %v, want [x y]", data)
	}
}
