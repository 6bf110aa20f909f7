package delta_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/session/delta"
)

// failFirstCatchUp is a delta.Channel whose first catch-up request (EventGetAllSessions
// asking for the recent sessions) to the member at port to fails without going out: the
// send waits for hold, if set, then returns an error wrapping channel.ErrConnectionLost.
// failed counts the requests it failed (one at most).
type failFirstCatchUp struct {
	*channel.Channel
	to     int32
	hold   func()
	failed *atomic.Int32
}

func (c failFirstCatchUp) Send(ctx context.Context, to []channel.Member, data []byte, opts channel.SendOptions) error {
	if len(to) == 1 && to[0].Port == c.to {
		m, err := delta.BinaryCodec{}.DecodeMessage(data)
		if err == nil && m.Event == delta.EventGetAllSessions && m.Version&delta.AskRecent != 0 &&
			c.failed.CompareAndSwap(0, 1) {
			if c.hold != nil {
				c.hold()
			}
			return fmt.Errorf("sending to %s: %w", to[0].Addr(), channel.ErrConnectionLost)
		}
	}
	return c.Channel.Send(ctx, to, data, opts)
}

// A member a that the joiner j lists only after its transfer (a partition between the
// two) made acknowledged changes j got from nobody, and j's late catch-up asks a once it
// is added. That request failed other than by a refusal (the send failed; a left during
// it and came back a few seconds later): a was taken for done with, never asked again,
// and j served a's session without a's changes for good. A failed request is now asked
// again as a refused one is, a second later while a is listed, or once it is back.
func TestLateCatchUpAsksAgainAfterAFailedRequest(t *testing.T) {
	for _, tc := range []struct {
		name  string
		leave bool // a leaves during the failed request, and comes back 5 s later
	}{
		{"send fails", false},
		{"member leaves and comes back", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx := context.Background()
				nw := channeltest.NewNetwork()
				d := startReady(t, nw, delta.Config{JvmRoute: "d", Replication: delta.ReplicateAcked})
				a := startReady(t, nw, delta.Config{JvmRoute: "a", Replication: delta.ReplicateAcked})
				s := create(t, a, "k", 1)
				time.Sleep(time.Minute)

				jtn, jch := newChannel(t, nw)
				held, release := make(chan struct{}), make(chan struct{})
				var failed atomic.Int32
				fc := failFirstCatchUp{Channel: jch, to: a.tn.Port(), failed: &failed}
				if tc.leave {
					fc.hold = func() { held <- struct{}{}; <-release }
				}
				nw.Partition(jtn, a.tn)
				jm := startJoiner(t, fc, delta.ClusterConfig{}, delta.Config{JvmRoute: "j",
					Replication: delta.ReplicateAcked, MemberWait: 3 * time.Second})
				synctest.Wait()
				for k := 2; k <= 3; k++ { // acknowledged by d alone: a does not list j
					if err := s.Set("k", k); err != nil {
						t.Fatal(err)
					}
					if err := a.m.Replicate(ctx, s); err != nil {
						t.Fatalf("a's change was not acknowledged: %v", err)
					}
				}
				if err := jm.WaitReady(ctx); err != nil {
					t.Fatal(err)
				}
				time.Sleep(5 * time.Second)
				nw.Heal(jtn, a.tn) // j adds a and asks it: the request fails
				if tc.leave {
					<-held
					nw.Partition(jtn, a.tn)
					synctest.Wait()
					close(release)
					time.Sleep(5 * time.Second)
					nw.Heal(jtn, a.tn)
				}
				synctest.Wait()
				time.Sleep(2 * time.Second)
				synctest.Wait()
				if n := failed.Load(); n != 1 {
					t.Fatalf("%d catch-up requests to a failed, want 1", n)
				}
				if v, _ := delta.Attr[int](jm.Find(s.ID()), "k"); v != 3 {
					t.Errorf("j holds k=%d of a's session, want the acknowledged 3 (a asked again)", v)
				}
				if v, _ := delta.Attr[int](d.m.Find(s.ID()), "k"); v != 3 {
					t.Errorf("d holds k=%d, want 3", v)
				}
				if n := jm.Stats().CatchUps; n != 1 {
					t.Errorf("j caught up with %d members, want 1 (a, asked again)", n)
				}
			})
		})
	}
}
