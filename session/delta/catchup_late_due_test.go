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

// A joiner r in its window whose view dropped a member a still to ask by its late
// catch-up (a was added in the window; r's request to another member, c, was slow) and
// listed it again, r changing the session meanwhile (b and c took it, a did not): the
// late catch-up marked a member back in view (AskBack) only when it was done with, so
// r's request to a did not ask a back, and a, whose own view kept r throughout and asked
// nothing, kept the old value for good. A member still to ask that leaves and comes back
// is now asked as one done with: its request says so (AskBack), and a holds r's change.
func TestJoinerMemberDueBackAgainAsksItBack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		nw := channeltest.NewNetwork()
		cfg := delta.Config{Replication: delta.ReplicateAcked}
		b := startReady(t, nw, withRoute(cfg, "b"))
		login := create(t, b, "k", 1)
		time.Sleep(2 * delta.DefaultCatchUpWindow) // b's window is over
		synctest.Wait()

		var slowOn atomic.Bool
		_, rch := newChannel(t, nw)
		rv := &oneSideView{Channel: rch, hidden: new(atomic.Pointer[channel.MemberKey])}
		rcfg := cfg
		rcfg.CatchUpWindow = 5 * time.Minute // r's is open throughout
		rm := startJoiner(t, slowCatchUp{Channel: rv, local: rch.LocalMember(), delay: 30 * time.Second, on: &slowOn},
			delta.ClusterConfig{}, withRoute(rcfg, "r"))
		if err := rm.WaitReady(ctx); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Second)
		synctest.Wait()

		slowOn.Store(true)
		startReady(t, nw, withRoute(cfg, "c")) // r's late catch-up asks c, slowly
		time.Sleep(time.Second)
		synctest.Wait()
		a := startReady(t, nw, withRoute(cfg, "a")) // r's late catch-up is to ask a next
		time.Sleep(time.Second)
		synctest.Wait()

		rv.hide(a.tn.Member())
		synctest.Wait()
		rs := rm.Find(login.ID())
		if rs == nil {
			t.Fatal("r lacks the session")
		}
		if err := rs.Set("k", 2); err != nil {
			t.Fatal(err)
		}
		if err := rm.Replicate(ctx, rs); err != nil {
			t.Fatalf("r's change: %v", err)
		}
		rv.show(a.tn.Member())
		synctest.Wait()
		time.Sleep(2 * time.Minute)
		synctest.Wait()
		if k, _ := delta.Attr[int](a.m.Find(login.ID()), "k"); k != 2 {
			t.Errorf("a holds k=%d, want r's 2 made while a was out of r's view", k)
		}
	})
}
