package replmap_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/replmap"
)

// syncAckConfig sends with syncAck, as session/backup (Tomcat BackupManager) does.
var syncAckConfig = replmap.Config{SendOptions: syncAck}

// A clean shutdown of a cluster whose map uses synchronized acks stops the maps one after
// the other: the second Stop sends MSG_STOP to a node whose map already stopped. That
// node has no listener for it any more and answers FAIL_ACK (a Go channel's default for
// an unaccepted message; Java answers ACK): Stop does not count it as a failure.
func TestStopAfterPeerStoppedIsClean(t *testing.T) {
	nw := channeltest.NewNetwork()
	nodes := clusterConfig(t, nw, 2, syncAckConfig)
	if err := nodes[0].m.Stop(ctx(t)); err != nil {
		t.Fatalf("first Stop: %v", err)
	}
	if err := nodes[1].m.Stop(ctx(t)); err != nil {
		t.Errorf("Stop after the other node's map stopped cleanly: %v", err)
	}
}

// The same with a channel member that runs no map of this name (another application on
// the cluster): Stop sends MSG_STOP to every channel member, as Java's breakdown does, and
// the member without the map answers FAIL_ACK, which is not a failure.
func TestStopWithMemberWithoutMap(t *testing.T) {
	nw := channeltest.NewNetwork()
	nodes := clusterConfig(t, nw, 2, syncAckConfig)
	newChannel(t, nw) // a member of the channel without the map
	for _, nd := range nodes {
		waitChannelMembers(t, nd, 2)
	}
	if err := nodes[0].m.Stop(ctx(t)); err != nil {
		t.Errorf("Stop with a channel member that runs no such map: %v", err)
	}
}

// reasonless makes the channel's FAIL_ACK errors look as they do over TCP, where the
// answer carries no reason: ErrAckFailed without ErrUnaccepted.
type reasonless struct{ channel.InterceptorBase }

func (r *reasonless) SendMessage(ctx context.Context, to []channel.Member, msg *channel.Message) error {
	err := r.InterceptorBase.SendMessage(ctx, to, msg)
	faulty := channel.FaultyMembers(err)
	for i, f := range faulty {
		if errors.Is(f.Err, channel.ErrAckFailed) {
			faulty[i].Err = fmt.Errorf("%w: %s answered FAIL_ACK", channel.ErrAckFailed, f.Member.Addr())
		}
	}
	return err
}

// Over TCP a FAIL_ACK does not say that no listener accepted the message: Stop ignores
// the FAIL_ACK of a member that is not (or no longer) a map member, and still reports
// one of a map member.
func TestStopReasonlessFailAck(t *testing.T) {
	nw := channeltest.NewNetwork()
	var fail atomic.Bool
	failing := &failReceived{fail: &fail}
	a, b := newChannel(t, nw, &reasonless{}), newChannel(t, nw, failing)
	other := newChannel(t, nw) // no map
	for _, nd := range []*node{a, b, other} {
		waitChannelMembers(t, nd, 2)
	}
	nodes := []*node{a, b}
	for _, nd := range nodes {
		newMap(t, nd, syncAckConfig)
	}
	for _, nd := range nodes {
		start(t, nd)
	}
	waitMapMembers(t, nodes, 1)

	fail.Store(true) // b's map is a map member and fails to process the STOP
	err := a.m.Stop(ctx(t))
	faulty := channel.FaultyMembers(err)
	if len(faulty) != 1 || faulty[0].Member.Key() != b.tn.Member().Key() || !errors.Is(err, channel.ErrAckFailed) {
		t.Errorf("Stop with a map member answering FAIL_ACK and a member without the map: %v, want the map member's FAIL_ACK only", err)
	}
}

// failReceived fails every received message while fail is set (the channel answers FAIL_ACK).
type failReceived struct {
	channel.InterceptorBase
	fail *atomic.Bool
}

func (f *failReceived) MessageReceived(msg *channel.Message) error {
	if f.fail.Load() {
		return errors.New("test: refused")
	}
	return f.InterceptorBase.MessageReceived(msg)
}

func waitChannelMembers(t *testing.T, nd *node, n int) {
	t.Helper()
	testutil.EventuallyTrue(t, testutil.WaitLimit, "channel members", func() bool { return len(nd.ch.Members()) == n })
}
