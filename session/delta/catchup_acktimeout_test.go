package delta_test

import (
	"context"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/session/delta"
)

// ackTimeoutTo is a joiner's delta.Channel whose sends to member `to` alone (its
// catch-up request: the transfer's request goes to the donor) end in an ack timeout,
// after the message went out when deliver is set, or without it.
type ackTimeoutTo struct {
	*channel.Channel
	to      channel.MemberKey
	deliver bool
}

func (c ackTimeoutTo) Send(ctx context.Context, to []channel.Member, data []byte, opts channel.SendOptions) error {
	if len(to) != 1 || to[0].Key() != c.to {
		return c.Channel.Send(ctx, to, data, opts)
	}
	if c.deliver {
		if err := c.Channel.Send(ctx, to, data, opts); err != nil {
			return err
		}
	}
	return fmt.Errorf("no ACK from %s: %w", to[0].Addr(), channel.ErrAckTimeout)
}

// A joiner's catch-up request that ends in an ack timeout waits for the member's answer,
// up to Config.TransferIdleTimeout (docs/failover.md, which called this untested): an
// answer that arrives is merged (Stats.CatchUps), and without one the joiner is ready
// once TransferIdleTimeout (10 s) passed, not at once and not after StateTransferTimeout.
func TestCatchUpAckTimeoutWaitsForTheAnswer(t *testing.T) {
	for _, tc := range []struct {
		name     string
		deliver  bool
		catchUps uint64
		waited   time.Duration
	}{
		{"answer arrives", true, 1, 0},
		{"no answer", false, 0, 10 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx := context.Background()
				nw := channeltest.NewNetwork()
				d := startReady(t, nw, delta.Config{JvmRoute: "d"}) // the oldest: the donor
				a := startReady(t, nw, delta.Config{JvmRoute: "a"})
				ids := fill(t, a, 3)

				_, jch := newChannel(t, nw)
				jcl := newCluster(t, ackTimeoutTo{jch, a.ch.LocalMember().Key(), tc.deliver}, delta.ClusterConfig{})
				t.Cleanup(func() { _ = jcl.Close(ctx) })
				jm, err := jcl.NewManager(delta.Config{Name: appName, JvmRoute: "j", MemberWait: -1})
				if err != nil {
					t.Fatal(err)
				}
				start := time.Now()
				if err := jm.Start(ctx); err != nil {
					t.Fatal(err)
				}
				if err := jm.WaitReady(ctx); err != nil {
					t.Fatal(err)
				}
				if waited := time.Since(start); waited != tc.waited {
					t.Errorf("ready after %v, want %v", waited, tc.waited)
				}
				for _, id := range ids {
					if jm.Find(id) == nil {
						t.Errorf("the joiner lacks session %s", id)
					}
				}
				st := jm.Stats()
				if st.TransferDonor != d.ch.LocalMember().Addr() || st.CatchUps != tc.catchUps {
					t.Errorf("donor %q (want %q), caught up with %d members, want %d",
						st.TransferDonor, d.ch.LocalMember().Addr(), st.CatchUps, tc.catchUps)
				}
			})
		})
	}
}
