package delta_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/session/delta"
)

// A ping that arrives once the partition healed (the requester asked for the probe just
// before it listed this node again, or its prober handled the request late) names a
// member that lists this node and that it lists. It stands this node down, as any ping
// does before it is acknowledged, but the check that follows finds the member listing
// this node: the cut is over at once, and the node refreshes and serves again, not after
// cutExpiry (a minute here; before the check it served nothing for that long:
// interop TestSessionPartitionAcrossHosts saw the majority's node stand down on such a
// ping right after the healing and answer 503).
func TestStalePingAfterHealing(t *testing.T) {
	defer delta.SetCutExpiry(time.Minute)()
	ctx := context.Background()
	_, a, b, c := three(t, delta.Config{Replication: delta.ReplicateAcked, ClusterSize: 3})
	startedAlone(t, a)
	low, high := lowHigh(a, c)
	s := create(t, low, "k", "v1")
	readHigh := readK(t, high)
	testutil.Eventually(t, 10*time.Second, func() error {
		if w := get(readHigh, "/", s.ID()); w.Code != http.StatusOK || w.Body.String() != "k=v1" {
			return fmt.Errorf("high before the ping: %d %q", w.Code, w.Body.String())
		}
		return nil
	})
	refreshes := high.m.Stats().QuorumRefreshes

	// b's ping on low's behalf, as b's probe sends it: acknowledged once high took it in.
	var to []channel.Member
	for _, m := range b.ch.Members() {
		if m.UniqueID == high.ch.LocalMember().UniqueID {
			to = append(to, m)
		}
	}
	if err := b.ch.Send(ctx, to, delta.ProbePing(low.ch.LocalMember().UniqueID), channel.OptUseAck|channel.OptSyncAck); err != nil {
		t.Fatal(err)
	}
	if n := high.cl.Stats().PartialCuts; n != 1 {
		t.Fatalf("high's PartialCuts = %d once the ping was acknowledged, want 1 (it stands down first)", n)
	}
	testutil.Eventually(t, 10*time.Second, func() error {
		if w := get(readHigh, "/", s.ID()); w.Code != http.StatusOK || w.Body.String() != "k=v1" {
			return fmt.Errorf("high after a stale ping: %d %q, want k=v1", w.Code, w.Body.String())
		}
		return nil
	})
	if high.m.Stats().QuorumRefreshes == refreshes {
		t.Error("high served again without a refresh")
	}
	if st := low.cl.Stats(); st.PartialCuts != 0 {
		t.Errorf("low stood down: %+v", st)
	}
}

// A ping naming a member this node lists that does not list it (its membership dropped
// this node, this one's has not dropped it yet): the check is refused, and the node stays
// down, checking again at each round of probes.
func TestPingFromAMemberThatDoesNotListThisNode(t *testing.T) {
	defer delta.SetCutExpiry(time.Minute)()
	ctx := context.Background()
	nw := channeltest.NewNetwork()
	a := startReady(t, nw, delta.Config{JvmRoute: "a", Replication: delta.ReplicateAcked, ClusterSize: 2})
	b := startReady(t, nw, delta.Config{JvmRoute: "b", Replication: delta.ReplicateAcked, ClusterSize: 2})
	testutil.EventuallyTrue(t, 10*time.Second, "a serves", func() bool { return a.m.Refusing() == nil })

	// x, a bare channel with the lowest id, answers a's checks (probe messages of kind 4)
	// with FAIL_ACK, as a node that does not list a does.
	xn := nw.NewNode()
	x, err := channel.New(channel.Config{Transport: xn.Transport(), Membership: xn.Membership(),
		HeartbeatInterval: -1, UniqueID: channel.UniqueID{15: 1}})
	if err != nil {
		t.Fatal(err)
	}
	var checks atomic.Int32
	aID := a.ch.LocalMember().UniqueID
	t.Cleanup(x.AddMessageListener(channel.MessageListenerFunc(func(m *channel.Message) error {
		if magic := delta.ProbePing(aID)[:4]; m.Source.UniqueID == aID && len(m.Data) > 4 && bytes.HasPrefix(m.Data, magic) && m.Data[4] == 4 {
			checks.Add(1)
			return channel.ErrNotMember
		}
		return nil
	})))
	channeltest.Start(t, x)
	testutil.EventuallyTrue(t, 10*time.Second, "a and b list x", func() bool {
		return len(a.ch.Members()) == 2 && len(b.ch.Members()) == 2
	})

	var to []channel.Member
	for _, m := range b.ch.Members() {
		if m.UniqueID == aID {
			to = append(to, m)
		}
	}
	if err := b.ch.Send(ctx, to, delta.ProbePing(x.LocalMember().UniqueID), channel.OptUseAck|channel.OptSyncAck); err != nil {
		t.Fatal(err)
	}
	// The check at the ping and one at the next round: the first one's answer was taken.
	testutil.EventuallyTrue(t, 10*time.Second, "a checks the cut twice", func() bool { return checks.Load() >= 2 })
	if err := a.m.Refusing(); !errors.Is(err, delta.ErrNoQuorum) {
		t.Errorf("a, cut off from x that does not list it, refuses changes with %v, want ErrNoQuorum", err)
	}
	if n := a.cl.Stats().PartialCuts; n != 1 {
		t.Errorf("a's PartialCuts = %d, want 1", n)
	}
}
