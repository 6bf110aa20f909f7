package delta_test

import (
	"context"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/session/delta"
)

// countCatchUps is a delta.Channel that counts the catch-up requests (EventGetAllSessions
// asking for the recent sessions) it sends to each member, by port, in asked.
type countCatchUps struct {
	*channel.Channel
	asked map[int32]*atomic.Int32 // filled before the channel is used
}

func (c countCatchUps) Send(ctx context.Context, to []channel.Member, data []byte, opts channel.SendOptions) error {
	if len(to) != 1 || c.asked[to[0].Port] == nil {
		return c.Channel.Send(ctx, to, data, opts)
	}
	if m, err := (delta.BinaryCodec{}).DecodeMessage(data); err == nil && m.Event == delta.EventGetAllSessions &&
		m.Version&delta.AskRecent != 0 {
		c.asked[to[0].Port].Add(1)
	}
	return c.Channel.Send(ctx, to, data, opts)
}

// A member p done with in the joiner j's catch-up (it answered, or was j's donor) and j
// then lost each other (a partition) within CatchUpWindow: p's acknowledged changes
// meanwhile went to the others only. When p was added again j did not ask it (it was
// done with), and j served p's session without those changes for good. A member done
// with that leaves and is added again within the window is asked again now, no more
// often than once a second however often it comes back.
func TestLateCatchUpAsksAgainAMemberBackAfterLeaving(t *testing.T) {
	for _, donor := range []bool{false, true} {
		name := map[bool]string{false: "member", true: "donor"}[donor]
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx := context.Background()
				nw := channeltest.NewNetwork()
				d := startReady(t, nw, delta.Config{JvmRoute: "d", Replication: delta.ReplicateAcked})
				a := startReady(t, nw, delta.Config{JvmRoute: "a", Replication: delta.ReplicateAcked})
				ss := map[*node]*delta.Session{d: create(t, d, "k", 1), a: create(t, a, "k", 1)}
				time.Sleep(time.Minute)

				jtn, jch := newChannel(t, nw)
				asked := map[int32]*atomic.Int32{d.tn.Port(): {}, a.tn.Port(): {}}
				jm := startJoiner(t, countCatchUps{Channel: jch, asked: asked}, delta.ClusterConfig{},
					delta.Config{JvmRoute: "j", Replication: delta.ReplicateAcked, MemberWait: time.Second})
				if err := jm.WaitReady(ctx); err != nil {
					t.Fatal(err)
				}
				synctest.Wait()
				p, other := a, d // p: the member partitioned from j, the donor or not as named
				if (jm.Stats().TransferDonor == d.ch.LocalMember().Addr()) == donor {
					p, other = d, a
				}
				if got := jm.Stats().TransferDonor == p.ch.LocalMember().Addr(); got != donor {
					t.Fatalf("p is the donor: %v, want %v", got, donor)
				}
				if n := jm.Stats().CatchUps; n != 1 {
					t.Fatalf("j caught up with %d members before the partition, want 1", n)
				}
				time.Sleep(5 * time.Second)
				nw.Partition(jtn, p.tn)
				synctest.Wait()
				s := ss[p]
				for k := 2; k <= 3; k++ { // acknowledged by the other alone: p does not list j
					if err := s.Set("k", k); err != nil {
						t.Fatal(err)
					}
					if err := p.m.Replicate(ctx, s); err != nil {
						t.Fatalf("p's change was not acknowledged: %v", err)
					}
				}
				time.Sleep(5 * time.Second)
				before := asked[p.tn.Port()].Load()
				for range 3 { // back, gone and back again every 200 ms: asked once a second at most
					nw.Heal(jtn, p.tn)
					synctest.Wait()
					nw.Partition(jtn, p.tn)
					synctest.Wait()
					time.Sleep(200 * time.Millisecond)
				}
				nw.Heal(jtn, p.tn)
				synctest.Wait()
				time.Sleep(2 * time.Second)
				synctest.Wait()
				if v, _ := delta.Attr[int](other.m.Find(s.ID()), "k"); v != 3 {
					t.Fatalf("the other member holds k=%d, want 3", v)
				}
				if v, _ := delta.Attr[int](jm.Find(s.ID()), "k"); v != 3 {
					t.Errorf("j holds k=%d of p's session, want the acknowledged 3 (p asked again once back)", v)
				}
				if n := jm.Stats().CatchUps; n != 3 {
					t.Errorf("j caught up %d times, want 3 (once at its start, then p twice once back)", n)
				}
				if n := asked[p.tn.Port()].Load() - before; n != 2 {
					t.Errorf("j asked p %d times over its four additions within 600 ms, want 2 (at once, then a second after)", n)
				}
			})
		})
	}
}
