package interceptors

import (
	"fmt"
	"slices"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/testutil"
)

// TestFailureDetectorMessageWaitsForItsMembersQueuedAddition: a message of a member the
// detector listed (its check passed) whose addition was still queued behind a blocked
// membership listener went up at once, before that addition; and when the member was
// then found dead, its removal cancelled the addition (coalescing), so the listeners had
// a message of a member they were never told about. The message now waits behind the
// queued addition, which then is not cancelled: once the listener returns, A sees B's
// addition, B's message, then B's removal.
func TestFailureDetectorMessageWaitsForItsMembersQueuedAddition(t *testing.T) {
	alive := newAliveSet()
	d := newTestDetector(alive)
	a, b, c, held, open := heldAtCsAddition(t, d)
	kb := b.expected(2).Key()
	listed := func() bool {
		d.mu.Lock()
		defer d.mu.Unlock()
		_, ok := d.view[kb]
		return ok
	}
	alive.set(c.port(), true)
	d.MemberAdded(c.expected(3))
	waitClosed(t, held, "C's addition did not go up")
	alive.set(b.port(), true)
	d.MemberAdded(b.expected(2))
	testutil.EventuallyTrue(t, testutil.WaitLimit, "B listed, its addition queued", listed)
	res := make(chan error, 1)
	go func() { res <- d.MessageReceived(&channel.Message{Source: b.ch.LocalMember(), Data: []byte("x")}) }()
	if err := <-res; err != nil {
		t.Errorf("MessageReceived: %v", err)
	}
	pb := fmt.Sprint(b.port())
	if got := a.orderLog(); slices.Contains(got, "msg:"+pb) {
		t.Errorf("B's message went up before B's addition, which is still queued: A saw %v", got)
	}
	alive.set(b.port(), false)
	d.MemberDisappeared(b.expected(2))
	testutil.EventuallyTrue(t, testutil.WaitLimit, "B dropped", func() bool { return !listed() })
	open()
	testutil.EventuallyTrue(t, testutil.WaitLimit, "the detector settled", d.Settled)
	got := a.orderLog()
	want := []string{fmt.Sprintf("+%d", c.port()), "+" + pb, "msg:" + pb, "-" + pb}
	if !slices.Equal(got, want) {
		t.Errorf("A saw %v, want %v: B's message after its addition, before its removal", got, want)
	}
	checkView(t, d, a)
}
