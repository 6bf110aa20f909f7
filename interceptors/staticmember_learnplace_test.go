package interceptors

import (
	"fmt"
	"slices"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
)

// TestStaticMembershipLearnedPlaceholderIsRemoved: a static member configured without a
// unique id (a placeholder) that the failure detector above verified (something answers at
// its address) went up as a member; when the node there sends its start notice, the
// placeholder takes its identity and the placeholder's removal (with BABY-ALEX) goes up
// as well as the real member's addition, so that the node is listed once, under its real id,
// and the listeners saw the placeholder leave. Before, the detector kept the placeholder
// beside the real member for good (the interop test TestStaticMemberNoticesJavaToGo saw
// both when Go's check of the placeholder ran after the JVM listened).
func TestStaticMembershipLearnedPlaceholderIsRemoved(t *testing.T) {
	nw := channeltest.NewNetwork()
	probe := nw.NewNode()
	pa := channel.Member{Host: []byte{127, 0, 0, 1}, Port: probe.Port() + 1, SecurePort: -1, UDPPort: -1}
	pa.UniqueID[0], pa.UniqueID[15] = 0xee, 1
	anyB := channel.Member{Host: []byte{127, 0, 0, 1}, Port: probe.Port() + 2, SecurePort: -1, UDPPort: -1}
	alive := newAliveSet(anyB.Port) // the placeholder's address answers before B starts
	d := newTestDetector(alive)
	sa := staticOf(anyB)
	a := mbNew(t, nw, mbOpt{id: 1, membership: noMembership}, d, sa)
	b := mbNew(t, nw, mbOpt{id: 2, membership: noMembership}, staticOf(pa))
	if a.port() != pa.Port || b.port() != anyB.Port {
		t.Fatalf("ports %d %d", a.port(), b.port())
	}
	mbStart(t, a)
	plus, gone := fmt.Sprintf("+%d", anyB.Port), fmt.Sprintf("-%d!", anyB.Port)
	testutil.EventuallyTrue(t, testutil.WaitLimit, "placeholder verified", func() bool { return len(a.evs()) == 1 })
	if ms := a.ch.Members(); len(ms) != 1 || ms[0].UniqueID != (channel.UniqueID{}) {
		t.Fatalf("members before B starts %v", ms)
	}
	mbStart(t, b)
	realB := b.ch.LocalMember()
	testutil.EventuallyTrue(t, testutil.WaitLimit, "A learned B and settled", func() bool {
		return len(a.evs()) == 3 && d.Settled()
	})
	// The detector checks each member on its own: the real member's addition and the
	// placeholder's removal may go up in either order, after the placeholder's addition.
	if got := a.evs(); !slices.Equal(got, []string{plus, gone, plus}) && !slices.Equal(got, []string{plus, plus, gone}) {
		t.Fatalf("events %v, want the placeholder added and removed (%s) and the real node added", got, gone)
	}
	ms := a.ch.Members()
	if len(ms) != 1 || !ms[0].Equal(realB) {
		t.Fatalf("A lists %v, want only %v", ms, realB)
	}
	if got := mbPorts(sa.StaticMembers()); !slices.Equal(got, []int32{anyB.Port}) {
		t.Fatalf("static members %v", got)
	}
}

// TestStaticMembershipPlaceholderLearnedWhileItsAdditionGoesUp: the placeholder is learned
// while a membership listener still holds its addition (no detector above): once that call
// returned, the announcing goroutine passes the placeholder's removal up (BABY-ALEX), and
// the channel lists the node once, under its real id.
func TestStaticMembershipPlaceholderLearnedWhileItsAdditionGoesUp(t *testing.T) {
	nw := channeltest.NewNetwork()
	probe := nw.NewNode()
	pa := channel.Member{Host: []byte{127, 0, 0, 1}, Port: probe.Port() + 1, SecurePort: -1, UDPPort: -1}
	pa.UniqueID[0], pa.UniqueID[15] = 0xee, 1
	anyB := channel.Member{Host: []byte{127, 0, 0, 1}, Port: probe.Port() + 2, SecurePort: -1, UDPPort: -1}
	sa := staticOf(anyB)
	a := mbNew(t, nw, mbOpt{id: 1, membership: noMembership}, sa)
	b := mbNew(t, nw, mbOpt{id: 2, membership: noMembership}, staticOf(pa))
	if a.port() != pa.Port || b.port() != anyB.Port {
		t.Fatalf("ports %d %d", a.port(), b.port())
	}
	held, release := make(chan struct{}), make(chan struct{})
	a.ch.AddMembershipListener(channel.MembershipFuncs{Added: func(m channel.Member) {
		if m.UniqueID == (channel.UniqueID{}) {
			close(held)
			<-release
		}
	}})
	mbStart(t, a)
	<-held
	mbStart(t, b)
	realB := b.ch.LocalMember()
	testutil.EventuallyTrue(t, testutil.WaitLimit, "A learned B", func() bool {
		ms := sa.StaticMembers()
		return len(ms) == 1 && ms[0].Equal(realB)
	})
	close(release)
	plus, gone := fmt.Sprintf("+%d", anyB.Port), fmt.Sprintf("-%d!", anyB.Port)
	testutil.EventuallyTrue(t, testutil.WaitLimit, "placeholder removed, B added", func() bool { return len(a.evs()) == 3 })
	// The channel delivers the real node's addition before or after the removal.
	if got := a.evs(); !slices.Equal(got, []string{plus, gone, plus}) && !slices.Equal(got, []string{plus, plus, gone}) {
		t.Fatalf("events %v, want the placeholder added and removed (%s) and the real node added", got, gone)
	}
	if ms := a.ch.Members(); len(ms) != 1 || !ms[0].Equal(realB) {
		t.Fatalf("A lists %v, want only %v", ms, realB)
	}
}
