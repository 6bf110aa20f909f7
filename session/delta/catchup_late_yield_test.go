package delta_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/session/delta"
)

// ackTimeoutAt is a delta.Channel whose first send to the member at port to alone ends
// in an ack timeout, without the message going out; sent counts those sends.
type ackTimeoutAt struct {
	*channel.Channel
	to   int32
	sent *atomic.Int32
}

func (c ackTimeoutAt) Send(ctx context.Context, to []channel.Member, data []byte, opts channel.SendOptions) error {
	if len(to) != 1 || to[0].Port != c.to {
		return c.Channel.Send(ctx, to, data, opts)
	}
	if c.sent.Add(1) > 1 {
		return c.Channel.Send(ctx, to, data, opts)
	}
	return fmt.Errorf("no ACK from %s: %w", to[0].Addr(), channel.ErrAckTimeout)
}

// A late catch-up's request that ends in an ack timeout waits for the member's answer up
// to TransferIdleTimeout, holding the manager's requests for every session (attemptMu):
// a refresh once the quorum came back waited for it, the node serving no session
// meanwhile (here an hour, the TransferIdleTimeout set). The late request gives way to
// the refresh now (its member is asked again a second later).
func TestLateCatchUpGivesWayToARefresh(t *testing.T) {
	ctx := context.Background()
	nw := channeltest.NewNetwork()
	cfg := delta.Config{Replication: delta.ReplicateAcked}
	cfg.JvmRoute = "d"
	d := startReady(t, nw, cfg)
	cfg.JvmRoute = "e"
	e := startReady(t, nw, cfg)

	xtn := nw.NewNode()
	var sent atomic.Int32
	jtn, jch := newChannel(t, nw)
	jcl := newCluster(t, ackTimeoutAt{jch, xtn.Port(), &sent}, delta.ClusterConfig{})
	t.Cleanup(func() { _ = jcl.Close(ctx) })
	jcfg := cfg
	jcfg.Name, jcfg.JvmRoute, jcfg.MemberWait = appName, "j", -1
	jcfg.ClusterSize, jcfg.TransferIdleTimeout = 5, time.Hour // a quorum of 2 members
	jm, err := jcl.NewManager(jcfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := jm.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := jm.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	xch, err := channel.New(channel.Config{Transport: xtn.Transport(), Membership: xtn.Membership(), HeartbeatInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	channeltest.Start(t, xch) // j asks x at once: no ACK, and it waits for the answer (x runs no manager)
	testutil.EventuallyTrue(t, 10*time.Second, "j's late request to x", func() bool { return sent.Load() > 0 })

	nw.Isolate(jtn, d.tn, e.tn) // j lists x only: below the quorum
	testutil.EventuallyTrue(t, 10*time.Second, "j without the quorum", func() bool {
		return len(jch.Members()) == 1 && jm.Serving() != nil
	})
	// Between the two healings j reaches d, which reaches e, and not e: a partial
	// partition, which j's probes through d can find (more likely under load), standing j
	// down until the second healing, then refreshing it once more (cut.go). So at least one
	// refresh, not exactly one: without the late request giving way, there is none.
	nw.Heal(jtn, d.tn)
	nw.Heal(jtn, e.tn)
	testutil.EventuallyTrue(t, 10*time.Second, "j's refresh once the quorum is back", func() bool {
		return jm.Stats().QuorumRefreshes >= 1 && jm.Serving() == nil
	})
}
