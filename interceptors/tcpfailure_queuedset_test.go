package interceptors

import (
	"fmt"
	"slices"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/testutil"
)

// TestFailureDetectorQueuedAdditionsSetIsNotCounted: a message of a listed member whose
// addition was still queued (behind a blocked membership listener) was held behind that
// addition in a set of held messages counted against MaxHeldSets, as a set behind an
// announcement the message made or behind a removal is, although a member has at most one
// such set at a time (it is made only while the member has none): with MaxHeldSets 1,
// once the member was dropped and listed again by its next message, that message was
// dropped (ErrHeldLimit) for the cap the first set took. That set is no longer counted:
// the message is held, and once the listener returns A sees +C +B x -B +B y, nothing
// dropped.
func TestFailureDetectorQueuedAdditionsSetIsNotCounted(t *testing.T) {
	alive := newAliveSet()
	d := must(NewTCPFailureDetector(TCPFailureDetectorConfig{Probe: alive.probe, MaxHeldSets: 1}))
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
	send := func(data string) chan error {
		res := make(chan error, 1)
		go func() {
			res <- d.MessageReceived(&channel.Message{Source: b.ch.LocalMember(), Data: []byte(data)})
		}()
		return res
	}
	x := send("x")
	testutil.EventuallyTrue(t, testutil.WaitLimit, "x held behind B's queued addition", func() bool {
		d.mu.Lock()
		defer d.mu.Unlock()
		hs := d.held[kb]
		return hs != nil && len(hs.msgs) == 1
	})
	alive.set(b.port(), false)
	d.MemberDisappeared(b.expected(2)) // found dead: B's removal queued behind x
	testutil.EventuallyTrue(t, testutil.WaitLimit, "B dropped", func() bool { return !listed() })
	// The layer below still lists B: its next message lists it again, a set of its own.
	y := send("y")
	for name, res := range map[string]chan error{"x": x, "y": y} {
		if err := <-res; err != nil {
			t.Errorf("MessageReceived of %s: %v", name, err)
		}
	}
	if st := d.Stats(); st.HeldDropped != 0 {
		t.Errorf("HeldDropped %d, want 0: y took no set meant for B's listings and removals", st.HeldDropped)
	}
	open()
	testutil.EventuallyTrue(t, testutil.WaitLimit, "the detector settled", d.Settled)
	pb := fmt.Sprint(b.port())
	want := []string{"+" + fmt.Sprint(c.port()), "+" + pb, "msg:" + pb, "-" + pb, "+" + pb, "msg:" + pb}
	if got := a.orderLog(); !slices.Equal(got, want) {
		t.Errorf("A saw %v, want %v", got, want)
	}
	if got := a.received(); len(got) != 2 || string(got[0].Data) != "x" || string(got[1].Data) != "y" {
		t.Errorf("A received %d messages, want x then y", len(got))
	}
	d.mu.Lock()
	sets := len(d.heldSets)
	d.mu.Unlock()
	if sets != 0 {
		t.Errorf("%d members with held sets counted once settled, want 0", sets)
	}
}
