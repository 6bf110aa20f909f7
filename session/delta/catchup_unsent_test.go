package delta_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/session/delta"
)

// startByOrigin starts a channel on nw under the i-th of idsByOrigin (0 lowest).
func startByOrigin(t *testing.T, nw *channeltest.Network, i int) (*channeltest.Node, *channel.Channel) {
	t.Helper()
	tn := nw.NewNode()
	ch, err := channel.New(channel.Config{Transport: tn.Transport(), Membership: tn.Membership(), HeartbeatInterval: -1,
		UniqueID: idsByOrigin()[i]})
	if err != nil {
		t.Fatal(err)
	}
	channeltest.Start(t, ch)
	return tn, ch
}

// A change refused before any send (unsent.go) must give way to another node's change
// at its version wherever the two meet, a catch-up's answer included: c, whose origin
// orders after a's, sets x, removes y and sets the principal while a's view has dropped
// it (c's own view kept a and b, but c reaches neither: ErrConnect, nothing left c). a
// then changes all three at the same version, acknowledged by b. Once c is back in a's
// view, a asks c for what it sent since it left (catchup_back.go) and c asks a back:
// every node must end with a's acknowledged values, also after c's next request. (c's
// answer carried its refused changes as ordinary ones stamped (v+1, c), which beat a's
// (v+1, a) on a: the refused writes replaced the acknowledged ones there, and c's next
// delta gave them to every node.) With ClusterSize, where nobody asks a member back, c
// is cut off on both sides (ErrNoQuorum) and refreshes once healed: the same must hold.
func TestMemberBackAnswerCarriesNoRefusedChange(t *testing.T) {
	for _, size := range []int{0, 3} {
		t.Run(fmt.Sprintf("ClusterSize=%d", size), func(t *testing.T) { memberBackRefused(t, size) })
	}
}

func memberBackRefused(t *testing.T, size int) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		nw := channeltest.NewNetwork()
		cfg := delta.Config{Replication: delta.ReplicateAcked, ClusterSize: size}
		atn, ach := startByOrigin(t, nw, 0)
		av := &oneSideView{Channel: ach, hidden: new(atomic.Pointer[channel.MemberKey])}
		am := startJoiner(t, av, delta.ClusterConfig{}, withRoute(cfg, "a"))
		if err := am.WaitReady(ctx); err != nil {
			t.Fatal(err)
		}
		btn, bch := startByOrigin(t, nw, 1)
		bm := startJoiner(t, bch, delta.ClusterConfig{}, withRoute(cfg, "b"))
		if err := bm.WaitReady(ctx); err != nil {
			t.Fatal(err)
		}
		ctn, cch := startByOrigin(t, nw, 2)
		cv := &viewChannel{Channel: cch}
		cm := startJoiner(t, cv, delta.ClusterConfig{}, withRoute(cfg, "c"))
		if err := cm.WaitReady(ctx); err != nil {
			t.Fatal(err)
		}
		for i := 0; am.Serving() != nil || bm.Serving() != nil || cm.Serving() != nil; i++ {
			if i == 100 {
				t.Fatal("the three nodes not serving after 10 s")
			}
			time.Sleep(100 * time.Millisecond)
		}
		s, err := am.Create(ctx)
		if err != nil {
			t.Fatal(err)
		}
		id := s.ID()
		if err := firstErr(s.Set("x", "start"), s.Set("y", "start"), am.Replicate(ctx, s)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * delta.DefaultCatchUpWindow) // the joiners' windows are over
		synctest.Wait()

		// Cut off: in a's view only, c reaching neither a nor b (ErrConnect); with a
		// quorum, on both sides (c's view empty: ErrNoQuorum).
		if size == 0 {
			av.hide(ctn.Member())
		} else {
			nw.Isolate(ctn, atn, btn)
		}
		synctest.Wait()
		sc := cm.Find(id)
		cv.unreachable.Store(size == 0)
		if err := firstErr(sc.Set("x", "c"), sc.Remove("y"), sc.SetPrincipal(&delta.Principal{Name: "cal"})); err != nil {
			t.Fatal(err)
		}
		err = cm.Replicate(ctx, sc)
		if size == 0 && !errors.Is(err, channel.ErrConnect) || size > 0 && !errors.Is(err, delta.ErrNoQuorum) {
			t.Fatalf("c's change, cut off: %v", err)
		}
		cv.unreachable.Store(false)
		if err := firstErr(s.Set("x", "a"), s.Set("y", "a"), s.SetPrincipal(&delta.Principal{Name: "pat"}), am.Replicate(ctx, s)); err != nil {
			t.Fatalf("a's change: %v", err)
		}
		time.Sleep(10 * time.Second)
		if size == 0 {
			av.show(ctn.Member())
		} else {
			nw.Heal(ctn, atn)
			nw.Heal(ctn, btn)
		}
		synctest.Wait()
		time.Sleep(5 * time.Second)
		synctest.Wait()
		want := "x=a y=a principal=pat"
		for _, m := range []*delta.Manager{am, bm, cm} {
			if got := attrsAndPrincipal(m, id); got != want {
				t.Errorf("%s, after the catch-ups, has %q; want a's %q", m.JvmRoute(), got, want)
			}
		}
		if err := cm.Replicate(ctx, cm.Find(id)); err != nil { // c's next request ends
			t.Fatal(err)
		}
		synctest.Wait()
		for _, m := range []*delta.Manager{am, bm, cm} {
			if got := attrsAndPrincipal(m, id); got != want {
				t.Errorf("%s, after c's next request, has %q; want a's %q", m.JvmRoute(), got, want)
			}
		}
	})
}
