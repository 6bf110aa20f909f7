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

// A joiner a whose view dropped r within its catch-up window, while r's membership kept
// a listed, and listed it again: a's late catch-up asks r again (catchup_late.go), and r,
// which saw nobody leave, asked a for nothing. a's rename made meanwhile went to b only.
// The late catch-up's request to a member back in its view now asks it to ask a back
// (delta.AskBack), as a running node's does (TestMemberBackInOneViewOnlyGetsTheRenames):
// r holds the session under its new id only, with a's change.
func TestJoinerMemberBackInOneViewOnlyGetsTheRenames(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		nw := channeltest.NewNetwork()
		cfg := delta.Config{Replication: delta.ReplicateAcked}
		startReady(t, nw, withRoute(cfg, "b")) // takes a's rename while r is out of a's view
		r := startReady(t, nw, withRoute(cfg, "r"))
		time.Sleep(2 * delta.DefaultCatchUpWindow) // r's own window is over
		synctest.Wait()
		cfg.CatchUpWindow = 5 * time.Minute // a's is open throughout
		atn, ach := newChannel(t, nw)
		av := &oneSideView{Channel: ach, hidden: new(atomic.Pointer[channel.MemberKey])}
		am := startJoiner(t, av, delta.ClusterConfig{}, withRoute(cfg, "a"))
		if err := am.WaitReady(ctx); err != nil {
			t.Fatal(err)
		}
		a := &node{tn: atn, ch: ach, m: am}
		login := create(t, a, "k", 1)
		old := login.ID()
		time.Sleep(5 * time.Second) // a's first late requests are answered
		synctest.Wait()

		av.hide(r.tn.Member())
		synctest.Wait()
		newID, err := a.m.ChangeSessionID(ctx, login, "")
		if err != nil {
			t.Fatalf("a's rename was not acknowledged by b: %v", err)
		}
		if err := login.Set("k", 2); err != nil {
			t.Fatal(err)
		}
		if err := a.m.Replicate(ctx, login); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Second)
		av.show(r.tn.Member())
		synctest.Wait()
		time.Sleep(5 * time.Second)
		synctest.Wait()
		if r.m.Find(old) != nil {
			t.Errorf("r still holds a's session under its old id %s", old)
		}
		if c := r.m.Find(newID); c == nil {
			t.Errorf("r lacks a's session under its new id %s", newID)
		} else if k, _ := delta.Attr[int](c, "k"); k != 2 {
			t.Errorf("r holds k=%d under the new id, want a's 2", k)
		}
	})
}
