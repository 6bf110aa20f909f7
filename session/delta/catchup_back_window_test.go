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

// TestMemberBackInOneViewOnlyGetsTheRenames with r a joiner whose own window
// (Config.CatchUpWindow) is still open when a, back in view, asks it (AskBack): r
// ignored the request's asking it to ask a back (its late catch-up was to, but it asks a
// member back only when its own view dropped it, and r's kept a), so a's rename and change
// made meanwhile, which went to b only, never reached r. r now asks a back within its
// window: it holds the session under its new id only, with a's change.
func TestMemberBackAskingAJoinerInItsWindowGetsTheRenames(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		nw := channeltest.NewNetwork()
		cfg := delta.Config{Replication: delta.ReplicateAcked}
		atn, ach := newChannel(t, nw)
		av := &oneSideView{Channel: ach, hidden: new(atomic.Pointer[channel.MemberKey])}
		am := startJoiner(t, av, delta.ClusterConfig{}, withRoute(cfg, "a"))
		if err := am.WaitReady(ctx); err != nil {
			t.Fatal(err)
		}
		a := &node{tn: atn, ch: ach, m: am}
		startReady(t, nw, withRoute(cfg, "b")) // takes a's rename while r is out of a's view
		login := create(t, a, "k", 1)
		old := login.ID()
		time.Sleep(2 * delta.DefaultCatchUpWindow) // a's and b's windows are over
		synctest.Wait()

		r := startReady(t, nw, withRoute(cfg, "r")) // its window lasts DefaultCatchUpWindow
		synctest.Wait()
		if c := r.m.Find(old); c == nil {
			t.Fatalf("r lacks a's session %s after its transfer", old)
		}
		time.Sleep(5 * time.Second)
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
		time.Sleep(5 * time.Second) // r's window (60 s from its start) is still open
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

// TestMemberBackAskingAJoinerInItsWindowGetsTheRenames with a's request coming a moment
// before r's window ends, while r's late catch-up asks x, another member back, that is
// slow to answer: the window ended before r asked a, and r's late catch-up gave a up (a
// running node's asking a member back, which a's request would have started, had left it
// to the window). r now asks a once its window is over, as a running node asks a member
// back.
func TestMemberBackAskingAtAJoinersWindowEndGetsTheRenames(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		nw := channeltest.NewNetwork()
		cfg := delta.Config{Replication: delta.ReplicateAcked}
		atn, ach := newChannel(t, nw)
		av := &oneSideView{Channel: ach, hidden: new(atomic.Pointer[channel.MemberKey])}
		am := startJoiner(t, av, delta.ClusterConfig{}, withRoute(cfg, "a"))
		if err := am.WaitReady(ctx); err != nil {
			t.Fatal(err)
		}
		a := &node{tn: atn, ch: ach, m: am}
		startReady(t, nw, withRoute(cfg, "b")) // takes a's rename while r is out of a's view
		var slow atomic.Bool                   // x takes 30 s to acknowledge r's requests
		var r *node
		var rKey atomic.Pointer[channel.MemberKey]
		x := newRaw(t, nw, nil)
		x.ch.AddMessageListener(channel.MessageListenerFunc(func(msg *channel.Message) error {
			if k := rKey.Load(); slow.Load() && k != nil && msg.Source.Key() == *k {
				time.Sleep(30 * time.Second)
			}
			return nil
		}))
		login := create(t, a, "k", 1)
		old := login.ID()
		time.Sleep(2 * delta.DefaultCatchUpWindow) // a's and b's windows are over
		synctest.Wait()

		r = startReady(t, nw, withRoute(cfg, "r")) // its window lasts DefaultCatchUpWindow
		k := r.tn.Member().Key()
		rKey.Store(&k)
		synctest.Wait()
		time.Sleep(delta.DefaultCatchUpWindow - 20*time.Second)
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
		time.Sleep(5 * time.Second)
		slow.Store(true)
		nw.Partition(x.tn, r.tn) // x leaves r's view and comes back: r's late catch-up asks it
		synctest.Wait()
		nw.Heal(x.tn, r.tn)
		synctest.Wait()
		time.Sleep(time.Second)
		av.show(r.tn.Member()) // 13 s before r's window ends, while r waits for x
		synctest.Wait()
		time.Sleep(delta.DefaultCatchUpWindow)
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
