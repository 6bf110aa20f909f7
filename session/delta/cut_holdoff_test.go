package delta_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/session/delta"
)

// pinger is a node a, a member b that sends a pings, and x, a channel with the lowest id
// and a cluster without a manager, that answers a's checks of a cut by it (probe messages of kind 4): acknowledged, or
// refused (FAIL_ACK, as a node that does not list a) once refuse is set.
type pinger struct {
	a, b   *node
	x      *channel.Channel
	checks atomic.Int32
	refuse atomic.Bool
}

// a's cluster and manager log into log (nil: nowhere).
func newPinger(t *testing.T, log *slog.Logger) *pinger {
	t.Helper()
	nw := channeltest.NewNetwork()
	p := &pinger{}
	cfg := delta.Config{Name: appName, MemberWait: -1, Replication: delta.ReplicateAcked, ClusterSize: 2}
	acfg, bcfg := cfg, cfg
	acfg.JvmRoute, bcfg.JvmRoute, acfg.Logger = "a", "b", log
	tn, ch := newChannel(t, nw)
	p.a = &node{tn: tn, ch: ch, rec: &events{}, cl: newCluster(t, ch, delta.ClusterConfig{Logger: log})}
	t.Cleanup(func() { _ = p.a.cl.Close(context.Background()) })
	m, err := p.a.cl.NewManager(acfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	p.a.m = m
	p.b = startReady(t, nw, bcfg)
	testutil.EventuallyTrue(t, 10*time.Second, "a serves", func() bool { return p.a.m.Refusing() == nil })
	xn := nw.NewNode()
	x, err := channel.New(channel.Config{Transport: xn.Transport(), Membership: xn.Membership(),
		HeartbeatInterval: -1, UniqueID: channel.UniqueID{15: 1}})
	if err != nil {
		t.Fatal(err)
	}
	p.x = x
	t.Cleanup(x.AddMessageListener(checkAnswerer{p}))
	channeltest.Start(t, x)
	xcl := newCluster(t, x, delta.ClusterConfig{}) // answers a's refresh: no manager here
	t.Cleanup(func() { _ = xcl.Close(context.Background()) })
	testutil.EventuallyTrue(t, 10*time.Second, "a and b list x", func() bool {
		return len(p.a.ch.Members()) == 2 && len(p.b.ch.Members()) == 2
	})
	return p
}

// checkAnswerer takes a's checks as their own (not a catch-all listener), so that its
// error is x's answer.
type checkAnswerer struct{ p *pinger }

func (c checkAnswerer) Accept(m *channel.Message) bool {
	magic := delta.ProbePing(m.Source.UniqueID)[:4]
	return m.Source.UniqueID == c.p.a.ch.LocalMember().UniqueID && len(m.Data) > 4 &&
		bytes.HasPrefix(m.Data, magic) && m.Data[4] == 4
}

func (c checkAnswerer) MessageReceived(*channel.Message) error {
	c.p.checks.Add(1)
	if c.p.refuse.Load() {
		return channel.ErrNotMember
	}
	return nil
}

// ping has b send a the ping of a probe on x's behalf (x cannot see a), acknowledged once a
// took it in.
func (p *pinger) ping(t *testing.T) {
	t.Helper()
	aID := p.a.ch.LocalMember().UniqueID
	var to []channel.Member
	for _, m := range p.b.ch.Members() {
		if m.UniqueID == aID {
			to = append(to, m)
		}
	}
	if err := p.b.ch.Send(context.Background(), to, delta.ProbePing(p.x.LocalMember().UniqueID),
		channel.OptUseAck|channel.OptSyncAck); err != nil {
		t.Fatal(err)
	}
}

// A member that lists this node sends it stale pings over and over (or has them sent):
// each named a member that lists this node and has a lower id, so each stood the node down
// until the check that followed ended the cut, and made it refresh its copies from every
// member (a full transfer of each member's sessions): 30 pings, 30 stand-downs and 30
// refreshes. Once a check ended a cut by a member, a new cut by it waits for a check for
// cutHoldOff: one stand-down and one refresh now. A cut whose check is refused meanwhile
// (the member does not list this node) still stands the node down.
func TestRepeatedStalePingsStandDownOnce(t *testing.T) {
	defer delta.SetCutExpiry(time.Minute)()
	p := newPinger(t, nil)
	refreshes := p.a.m.Stats().QuorumRefreshes
	const pings = 30
	for i := range pings {
		p.ping(t)
		if i == 0 {
			if n := p.a.cl.Stats().PartialCuts; n != 1 {
				t.Fatalf("a's PartialCuts = %d once the first ping was acknowledged, want 1 (it stands down first)", n)
			}
		}
		testutil.EventuallyTrue(t, 10*time.Second, fmt.Sprintf("after ping %d: a serving again (refusing: %v), checks %d", i, p.a.m.Refusing(), p.checks.Load()), func() bool {
			return p.a.m.Refusing() == nil && p.checks.Load() > int32(i)
		})
	}
	if n := p.a.cl.Stats().PartialCuts; n != 1 {
		t.Errorf("%d stale pings naming one member made a stand down %d times, want 1", pings, n)
	}
	if n := p.a.m.Stats().QuorumRefreshes - refreshes; n != 1 {
		t.Errorf("%d stale pings naming one member made a refresh %d times, want 1", pings, n)
	}

	// x no longer lists a: the next ping's check is refused, and a stands down.
	p.refuse.Store(true)
	p.ping(t)
	before := p.checks.Load()
	testutil.Eventually(t, 10*time.Second, func() error {
		if n := p.a.cl.Stats().PartialCuts; n != 2 {
			return fmt.Errorf("a's PartialCuts = %d after a check x refused (%d checks since), want 2", n, p.checks.Load()-before)
		}
		return nil
	})
	if err := p.a.m.Refusing(); !errors.Is(err, delta.ErrNoQuorum) {
		t.Errorf("a, cut off from x that does not list it, refuses changes with %v, want ErrNoQuorum", err)
	}
}
