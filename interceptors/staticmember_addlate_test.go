package interceptors

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
)

// TestStaticMembershipAddWhileRunningIsAnnouncedAtTheNextStart pins what AddStaticMember's
// doc says: as Tribes' addStaticMember, a member added while the channel runs is listed by
// Members at once, but not announced to the membership listeners, nor sent the start
// notice, until the channel starts again.
func TestStaticMembershipAddWhileRunningIsAnnouncedAtTheNextStart(t *testing.T) {
	nw := channeltest.NewNetwork()
	b := mbNew(t, nw, mbOpt{id: 2, membership: noMembership})
	sm := staticOf()
	a := mbNew(t, nw, mbOpt{id: 1, membership: noMembership}, sm)
	mbStart(t, b, a)
	defer mbStop(t, b)

	sm.AddStaticMember(b.expected(2))
	if ms := a.ch.Members(); len(ms) != 1 || !ms[0].Equal(b.expected(2)) {
		t.Fatalf("members after AddStaticMember %v, want B's port %d", mbPorts(ms), b.port())
	}
	mbWantEvents(t, a) // not announced
	if got := b.received(); len(got) != 0 {
		t.Fatalf("B received %d messages before A's next start, want none", len(got))
	}

	mbStop(t, a)
	testutil.EventuallyTrue(t, testutil.WaitLimit, "shutdown notice at B", func() bool { return len(b.received()) == 1 })
	if err := a.ch.Start(context.Background(), channel.SvcAll); err != nil {
		t.Fatal(err)
	}
	defer mbStop(t, a)
	testutil.EventuallyTrue(t, testutil.WaitLimit, "start notice at B", func() bool { return len(b.received()) == 2 })
	if got := b.received(); !bytes.Equal(got[0].Data, staticMemberStop) || !bytes.Equal(got[1].Data, staticMemberStart) {
		t.Fatalf("B received %q then %q, want the shutdown then the start notice", got[0].Data, got[1].Data)
	}
	mbWantEvents(t, a, fmt.Sprintf("+%d", b.port()))
}
