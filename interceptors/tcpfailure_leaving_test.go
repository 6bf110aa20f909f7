package interceptors

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
)

// TestFailureDetectorSendToAllWhileARemovalWaits: a member the detector dropped (a failed
// check) while its messages were held behind its announcement is still listed by Members
// until its removal goes up (TestFailureDetectorMemberAndMembersAgreeWhileARemovalWaits),
// so a send to every member (SendMessage with no members) goes to it too meanwhile, as to
// any member whose removal has not gone up; a send to it that fails reports nothing new:
// the member is dropped already, and no check of it is queued. Once its removal went up,
// a send to every member leaves it out.
func TestFailureDetectorSendToAllWhileARemovalWaits(t *testing.T) {
	alive := newAliveSet() // B never answers the check
	d := newTestDetector(alive)
	nw := channeltest.NewNetwork()
	fb := &failBelow{}
	a := mbNew(t, nw, mbOpt{id: 1}, d, fb)
	b := mbNew(t, nw, mbOpt{id: 2})
	c := mbNew(t, nw, mbOpt{id: 3})
	hold, held, open := holdOnce()
	t.Cleanup(open)
	a.ch.AddMembershipListener(channel.MembershipFuncs{
		Added: func(m channel.Member) {
			if m.Port == b.port() {
				hold()
			}
		},
		Disappeared: func(channel.Member) {},
	})
	mbStart(t, a, b)
	testutil.EventuallyTrue(t, testutil.WaitLimit, "B checked, not answering", func() bool {
		return d.Settled() && d.Stats().AddSuspects == 1
	})
	k := b.expected(2).Key()
	res := make(chan error, 1)
	go func() { res <- d.MessageReceived(&channel.Message{Source: b.ch.LocalMember(), Data: []byte("x")}) }()
	waitClosed(t, held, "B's announcement did not go up")
	dropHeard(t, d, b)
	fb.set(b.port(), channel.ErrConnect) // B is gone indeed
	probes := d.Stats().Probes
	err := a.ch.SendMessage(context.Background(), nil, &channel.Message{Options: channel.OptByteMessage, Data: []byte("all")})
	faulty := channel.FaultyMembers(err)
	if len(faulty) != 1 || faulty[0].Member.Port != b.port() || !errors.Is(faulty[0].Err, channel.ErrConnect) {
		t.Fatalf("send to every member while B's removal waits: %v, want it sent to B and failed there", err)
	}
	d.mu.Lock()
	_, checking := d.queues[k]
	d.mu.Unlock()
	if checking || d.Stats().Probes != probes {
		t.Errorf("the failed send to B, dropped already, queued a check of it (queued %v, probes %d, were %d)",
			checking, d.Stats().Probes, probes)
	}
	open()
	if err := <-res; err != nil {
		t.Errorf("MessageReceived: %v", err)
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "B's removal went up", func() bool {
		return d.Settled() && len(a.evs()) == 2
	})
	alive.set(c.port(), true)
	mbStart(t, c)
	testutil.EventuallyTrue(t, testutil.WaitLimit, "C listed", func() bool {
		return d.Settled() && slices.Contains(mbPorts(d.Members()), c.port())
	})
	if ports := mbPorts(d.Members()); slices.Contains(ports, b.port()) {
		t.Fatalf("Members %v lists B after its removal went up", ports)
	}
	if err := a.ch.SendMessage(context.Background(), nil, &channel.Message{Options: channel.OptByteMessage, Data: []byte("all")}); err != nil {
		t.Errorf("send to every member once B's removal went up: %v, want it sent to the others only", err)
	}
}
