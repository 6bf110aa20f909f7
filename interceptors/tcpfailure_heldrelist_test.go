package interceptors

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/testutil"
)

// TestFailureDetectorMessageHeldBehindARemovalListsItsMemberBackAgain: a message of a
// member whose removal waits for its held messages, the layer below no longer listing the
// member, is held behind the removal unlisted
// (TestFailureDetectorMessageAfterItsMembersRemovalGoesUpAfterIt). A later message of the
// member, once the layer below listed it again, joined that unlisted set whatever the
// listing below, so it did not list the member as a message of an unlisted member of the
// layer below does: the member stayed unlisted after its messages went up, although it
// had just been heard from and the layer below listed it (Channel.Members without it until
// a check passed or another message came). Such a message now lists the member again,
// behind the removal and the message held before it: "+B x1 x2 -B y +B z".
func TestFailureDetectorMessageHeldBehindARemovalListsItsMemberBackAgain(t *testing.T) {
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
	go func() { res <- d.MessageReceived(&channel.Message{Source: src, Data: []byte("y")}) }()
	testutil.EventuallyTrue(t, testutil.WaitLimit, "y held", func() bool {
		return slices.Contains(heldData(d, k), "y")
	})
	// B comes back: the layer below lists it, its check still fails.
	if err := b.ch.Start(context.Background(), channel.SvcAll); err != nil {
		t.Fatal(err)
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "B listed below", func() bool {
		_, below := d.Next().Member(k)
		return below
	})
	res2 := make(chan error, 1)
	go func() { res2 <- d.MessageReceived(&channel.Message{Source: src, Data: []byte("z")}) }()
	testutil.EventuallyTrue(t, testutil.WaitLimit, "z held", func() bool {
		return slices.Contains(heldData(d, k), "z")
	})
	open()
	for range 3 {
		if err := <-res; err != nil {
			t.Errorf("MessageReceived: %v", err)
		}
	}
	if err := <-res2; err != nil {
		t.Errorf("MessageReceived: %v", err)
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "the detector settled", func() bool {
		return d.Settled() && len(a.received()) == 4
	})
	var data []string
	for _, m := range a.received() {
		data = append(data, string(m.Data))
	}
	if !slices.Equal(data, []string{"x1", "x2", "y", "z"}) {
		t.Errorf("delivered %v, want [x1 x2 y z]", data)
	}
	p := fmt.Sprint(b.port())
	if got, want := a.orderLog(), []string{"+" + p, "msg:" + p, "msg:" + p, "-" + p, "msg:" + p, "+" + p, "msg:" + p}; !slices.Equal(got, want) {
		t.Errorf("A saw %v, want %v", got, want)
	}
	if _, ok := d.Member(k); !ok {
		t.Error("the detector does not list B, heard from while the layer below lists it")
	}
	if !slices.Contains(mbPorts(a.ch.Members()), b.port()) {
		t.Errorf("A's members %v, want B (%d) among them", mbPorts(a.ch.Members()), b.port())
	}
}
