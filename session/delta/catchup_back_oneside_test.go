package delta_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/session/delta"
)

// oneSideView is a delta.Channel whose view drops the member hidden holds, and tells
// its membership listeners so (hide, show), while that member still lists this node:
// this node's membership timed it out, the member's did not.
type oneSideView struct {
	*channel.Channel
	hidden *atomic.Pointer[channel.MemberKey]
	mu     sync.Mutex
	ls     []channel.MembershipListener
}

func (v *oneSideView) hides(k channel.MemberKey) bool {
	h := v.hidden.Load()
	return h != nil && *h == k
}

func (v *oneSideView) Members() []channel.Member {
	var out []channel.Member
	for _, m := range v.Channel.Members() {
		if !v.hides(m.Key()) {
			out = append(out, m)
		}
	}
	return out
}

func (v *oneSideView) Member(k channel.MemberKey) (channel.Member, bool) {
	if v.hides(k) {
		return channel.Member{}, false
	}
	return v.Channel.Member(k)
}

func (v *oneSideView) AddMembershipListener(l channel.MembershipListener) func() {
	v.mu.Lock()
	v.ls = append(v.ls, l)
	v.mu.Unlock()
	return v.Channel.AddMembershipListener(l)
}

// hide drops m from the view, show adds it again, telling the listeners.
func (v *oneSideView) hide(m channel.Member) {
	k := m.Key()
	v.hidden.Store(&k)
	for _, l := range v.listeners() {
		l.MemberDisappeared(m)
	}
}

func (v *oneSideView) show(m channel.Member) {
	v.hidden.Store(nil)
	for _, l := range v.listeners() {
		l.MemberAdded(m)
	}
}

func (v *oneSideView) listeners() []channel.MembershipListener {
	v.mu.Lock()
	defer v.mu.Unlock()
	return append([]channel.MembershipListener(nil), v.ls...)
}

// A member r whose membership kept a listed while a's timed r out (r kept running) sees
// nobody leave or come back: only a does. a's rename made meanwhile went to b only, and r
// asked a for nothing. a's request to r, once r is back in its view, now asks r to ask a
// back (delta.AskBack) for what it sent since: r holds the session under its new id
// only, with a's change.
func TestMemberBackInOneViewOnlyGetsTheRenames(t *testing.T) {
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
		r := startReady(t, nw, withRoute(cfg, "r"))
		login := create(t, a, "k", 1)
		old := login.ID()
		time.Sleep(2 * delta.DefaultCatchUpWindow)
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
