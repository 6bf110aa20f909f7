package interceptors

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/membership/static"
)

func noMembership(*channeltest.Node) channel.MembershipService { return static.New() }

func TestStaticMemberPayloads(t *testing.T) {
	if s := string(StaticMemberStartPayload()); len(s) != 36 || s != "Local StaticMember Notification Data" {
		t.Fatalf("start %q", s)
	}
	if s := string(StaticMemberStopPayload()); len(s) != 32 || s != "Local StaticMember Shutdown Data" {
		t.Fatalf("stop %q", s)
	}
}

// TestStaticMembershipNotices: A lists B as a static member; B has no static interceptor
// and so sees A's notices as plain messages.
func TestStaticMembershipNotices(t *testing.T) {
	nw := channeltest.NewNetwork()
	b := mbNew(t, nw, mbOpt{id: 2, membership: noMembership})
	sm := staticOf(b.expected(2))
	a := mbNew(t, nw, mbOpt{id: 1, membership: noMembership}, sm)
	mbStart(t, b)
	if err := a.ch.Start(context.Background(), channel.SvcAll); err != nil {
		t.Fatal(err)
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "start notice at B", func() bool { return len(b.received()) == 1 })
	got := b.received()[0]
	if !bytes.Equal(got.Data, staticMemberStart) || got.Options != 0 || !got.Source.Equal(a.ch.LocalMember()) {
		t.Fatalf("notice: options %v data %q", got.Options, got.Data)
	}
	mbWantEvents(t, a, fmt.Sprintf("+%d", b.port()))
	if ms := a.ch.Members(); len(ms) != 1 || !ms[0].Equal(b.expected(2)) {
		t.Fatalf("members %v", mbPorts(ms))
	}
	mbStop(t, a)
	testutil.EventuallyTrue(t, testutil.WaitLimit, "shutdown notice at B", func() bool { return len(b.received()) == 2 })
	if got := b.received()[1]; !bytes.Equal(got.Data, staticMemberStop) {
		t.Fatalf("second notice %q", got.Data)
	}
}

// TestStaticMembershipExchange: two nodes list each other; notices received become
// membership events and are not delivered as messages.
func TestStaticMembershipExchange(t *testing.T) {
	nw := channeltest.NewNetwork()
	pa := channel.Member{Host: []byte{127, 0, 0, 1}, SecurePort: -1, UDPPort: -1}
	pb := pa
	// mbNew takes the network's next ports in order.
	probe := nw.NewNode()
	pa.Port, pb.Port = probe.Port()+1, probe.Port()+2
	pa.UniqueID[0], pa.UniqueID[15] = 0xee, 1
	pb.UniqueID[0], pb.UniqueID[15] = 0xee, 2
	sa, sb := staticOf(pb), staticOf(pa)
	a := mbNew(t, nw, mbOpt{id: 1, membership: noMembership}, sa)
	b := mbNew(t, nw, mbOpt{id: 2, membership: noMembership}, sb)
	if a.port() != pa.Port || b.port() != pb.Port {
		t.Fatalf("ports %d %d", a.port(), b.port())
	}
	mbStart(t, a, b)
	testutil.EventuallyTrue(t, testutil.WaitLimit, "both announced", func() bool { return len(a.evs()) == 1 && len(b.evs()) == 1 })
	// A stops: B receives the shutdown notice, reports A gone with BABY-ALEX and drops it.
	mbStop(t, a)
	testutil.EventuallyTrue(t, testutil.WaitLimit, "A gone at B", func() bool { return len(b.evs()) == 2 })
	mbWantEvents(t, b, fmt.Sprintf("+%d", pa.Port), fmt.Sprintf("-%d!", pa.Port))
	if len(b.ch.Members()) != 0 {
		t.Fatalf("B still lists %v", mbPorts(b.ch.Members()))
	}
	// A starts again: its start notice makes it a member of B again.
	if err := a.ch.Start(context.Background(), channel.SvcAll); err != nil {
		t.Fatal(err)
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "A back at B", func() bool { return len(b.evs()) == 3 })
	if got := b.evs()[2]; got != fmt.Sprintf("+%d", pa.Port) {
		t.Fatalf("event %s", got)
	}
	if got := mbPorts(b.ch.Members()); !slices.Equal(got, []int32{pa.Port}) {
		t.Fatalf("members %v", got)
	}
	for _, n := range []*mbNode{a, b} {
		for _, m := range n.received() {
			t.Errorf("node %d delivered a notice %q", n.port(), m.Data)
		}
	}
}

func TestStaticMembershipWithFailureDetector(t *testing.T) {
	nw := channeltest.NewNetwork()
	b := mbNew(t, nw, mbOpt{id: 2, membership: noMembership})
	c := mbNew(t, nw, mbOpt{id: 3, membership: noMembership})
	alive := newAliveSet(b.port())
	d := newTestDetector(alive)
	a := mbNew(t, nw, mbOpt{id: 1, membership: noMembership}, d, staticOf(b.expected(2), c.expected(3)))
	mbStart(t, b, c, a)
	// Only B answers: only B is announced, and only B gets the start notice.
	testutil.EventuallyTrue(t, testutil.WaitLimit, "B notified", func() bool { return len(b.received()) == 1 })
	mbWantEvents(t, a, fmt.Sprintf("+%d", b.port()))
	if got := mbPorts(a.ch.Members()); !slices.Equal(got, []int32{b.port()}) {
		t.Fatalf("members %v", got)
	}
	if len(c.received()) != 0 {
		t.Fatal("C was notified although it did not pass the check")
	}
}

func TestStaticMembershipLocalMember(t *testing.T) {
	nw := channeltest.NewNetwork()
	l := channel.Member{Host: []byte{10, 0, 0, 9}, Port: 1234, SecurePort: -1, UDPPort: -1}
	sm := must(NewStaticMembership(StaticMembershipConfig{Local: &l}))
	a := mbNew(t, nw, mbOpt{id: 1, membership: noMembership}, sm)
	if got := a.ch.LocalMember(); !got.Equal(l) {
		t.Fatalf("local %v", got)
	}
}

// TestStaticMembershipLearnsTheID: a static member configured without a unique id takes
// the identity of the node whose notice arrives from its host and port.
func TestStaticMembershipLearnsTheID(t *testing.T) {
	nw := channeltest.NewNetwork()
	probe := nw.NewNode()
	pa := channel.Member{Host: []byte{127, 0, 0, 1}, Port: probe.Port() + 1, SecurePort: -1, UDPPort: -1}
	pa.UniqueID[0], pa.UniqueID[15] = 0xee, 1
	anyB := channel.Member{Host: []byte{127, 0, 0, 1}, Port: probe.Port() + 2, SecurePort: -1, UDPPort: -1}
	sa := staticOf(anyB) // B's id unknown
	a := mbNew(t, nw, mbOpt{id: 1, membership: noMembership}, sa)
	b := mbNew(t, nw, mbOpt{id: 2, membership: noMembership}, staticOf(pa))
	mbStart(t, a, b)
	realB := b.ch.LocalMember()
	testutil.EventuallyTrue(t, testutil.WaitLimit, "A learned B", func() bool {
		for _, m := range sa.StaticMembers() {
			if m.Equal(realB) {
				return true
			}
		}
		return false
	})
	if _, ok := a.ch.Member(realB.Key()); !ok {
		t.Fatal("A does not list B under its real identity")
	}
}

// staticOf returns a StaticMembership with these members.
func staticOf(members ...channel.Member) *StaticMembership {
	return must(NewStaticMembership(StaticMembershipConfig{Members: members}))
}

// TestStaticMembershipListedBelowIsTheListBelow: once the membership below lists the
// static member, Members is that list, not a copy with the member added again.
func TestStaticMembershipListedBelowIsTheListBelow(t *testing.T) {
	nw := channeltest.NewNetwork()
	b := mbNew(t, nw, mbOpt{id: 2})
	sm := staticOf(b.expected(2))
	a := mbNew(t, nw, mbOpt{id: 1}, sm)
	mbStart(t, b, a)
	testutil.EventuallyTrue(t, testutil.WaitLimit, "B listed below", func() bool { return len(sm.Next().Members()) == 1 })
	if got := mbPorts(a.ch.Members()); !slices.Equal(got, []int32{b.port()}) {
		t.Fatalf("members %v", got)
	}
	wantNoOwnAllocs(t, sm)
}
