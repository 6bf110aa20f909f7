package interceptors

import (
	"fmt"
	"slices"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/testutil"
)

// TestFailureDetectorMessageWaitsForAnEarlierBlockedEvent pins what a membership listener
// blocking on an event queued before a member's announcement does to that member's
// messages (docs/interceptors.md): the message of B, unlisted, lists B, and B's
// announcement is queued behind C's addition, whose listener blocks; B's message is held
// behind B's announcement, so it waits for C's listener too. It cannot go up first (the
// listeners would have a message of a member they were not told of), nor can B's
// announcement (events go up one at a time, in the order of the changes). MessageReceived
// returns nil once heardFromWait passed, the message not delivered; once the listener
// returns, A sees +C, +B, then B's message. (A listener blocking on an event queued after
// B's announcement does not hold B's messages:
// TestFailureDetectorHeldMessagesDoNotWaitForAnotherMembersListener.)
func TestFailureDetectorMessageWaitsForAnEarlierBlockedEvent(t *testing.T) {
	alive := newAliveSet()
	d := newTestDetector(alive)
	a, b, c, held, open := heldAtCsAddition(t, d)
	alive.set(c.port(), true)
	d.MemberAdded(c.expected(3))
	waitClosed(t, held, "C's addition did not go up")
	err := d.MessageReceived(&channel.Message{Source: b.ch.LocalMember(), Data: []byte("x")})
	if err != nil {
		t.Fatalf("MessageReceived: %v, want nil once heardFromWait passed", err)
	}
	pb, pc := fmt.Sprint(b.port()), fmt.Sprint(c.port())
	if got := a.orderLog(); !slices.Equal(got, []string{"+" + pc}) {
		t.Fatalf("A saw %v while C's listener blocks, want only +%s: B's announcement and message wait behind it", got, pc)
	}
	if _, ok := d.Member(b.expected(2).Key()); !ok {
		t.Error("B, heard from, is not listed")
	}
	open()
	testutil.EventuallyTrue(t, testutil.WaitLimit, "the detector settled", d.Settled)
	if got, want := a.orderLog(), []string{"+" + pc, "+" + pb, "msg:" + pb}; !slices.Equal(got, want) {
		t.Errorf("A saw %v, want %v", got, want)
	}
	if st := d.Stats(); st.HeldDropped != 0 {
		t.Errorf("HeldDropped %d, want 0", st.HeldDropped)
	}
}
