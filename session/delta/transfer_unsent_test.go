package delta_test

import (
	"context"
	"errors"
	"slices"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/session/delta"
)

// donorFirst is a delta.Channel that lists the member first first: a joiner on it asks
// that member for its state transfer.
type donorFirst struct {
	*channel.Channel
	first channel.MemberKey
}

func (d donorFirst) Members() []channel.Member {
	ms := d.Channel.Members()
	slices.SortStableFunc(ms, func(x, y channel.Member) int {
		switch {
		case x.Key() == d.first && y.Key() != d.first:
			return -1
		case y.Key() == d.first && x.Key() != d.first:
			return 1
		}
		return 0
	})
	return ms
}

// A joiner whose state transfer comes from a node that was cut off: c, whose view kept a
// and b but which reached neither, set x; its delta was refused before any send
// (ErrConnect), and x=c stays pending on c. a then set x at the same version, acknowledged
// by b. j joins, and its donor is c: the transfer carries c's refused x with origin 0
// (yieldUnsent), and j's catch-up asks a and b only for what they sent since j started,
// which a's change is not. j kept x=c, while the majority holds x=a, until x next
// changed. A joiner whose transfer carried such values (origin 0) now asks one more
// member for every session and merges the ones that carried them by their stamps: j
// holds x=a.
func TestJoinerFromACutOffDonorTakesTheMajoritysValue(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		nw := channeltest.NewNetwork()
		cfg := delta.Config{Replication: delta.ReplicateAcked}
		co := cutOffDonor(t, nw, cfg)
		am, bm, s, id, ctn := co.am, co.bm, co.s, co.id, co.ctn
		if err := firstErr(s.Set("x", "a"), am.Replicate(ctx, s)); err != nil {
			t.Fatalf("a's change: %v", err)
		}
		time.Sleep(10 * time.Second)
		synctest.Wait()

		_, jch := newChannel(t, nw)
		jm := startJoiner(t, donorFirst{Channel: jch, first: ctn.Member().Key()}, delta.ClusterConfig{}, withRoute(cfg, "j"))
		if err := jm.WaitReady(ctx); err != nil {
			t.Fatal(err)
		}
		if d := jm.Stats().TransferDonor; d != ctn.Member().Addr() {
			t.Fatalf("j's donor is %s, want c (%s)", d, ctn.Member().Addr())
		}
		for _, m := range []*delta.Manager{am, bm} {
			if got := attrs(m, id); got != "x=a " {
				t.Errorf("%s has %q, want the majority's x=a", m.JvmRoute(), got)
			}
		}
		if got := attrs(jm, id); got != "x=a " {
			t.Errorf("j, whose donor was c, has %q; want the majority's x=a", got)
		}
	})
}

// cutOff is three nodes after cutOffDonor: a and b listed each other and c, c's change of
// x ("c") refused before any send (ErrConnect) and still pending on c, which a hid from
// its view.
type cutOff struct {
	am, bm *delta.Manager
	s      *delta.Session // a's copy of the session
	id     string
	ctn    *channeltest.Node // c's node
}

// cutOffDonor starts a, b and c with cfg (their routes set), has a create a session with
// x=start, waits past the joiners' catch-up windows, hides c from a's view and has c,
// unreachable, change x to "c": refused before any send (ErrConnect). The caller then
// makes a's own change of the session.
func cutOffDonor(t *testing.T, nw *channeltest.Network, cfg delta.Config) cutOff {
	t.Helper()
	return cutOffDonorOf(t, nw, cfg, false)
}

// cutOffDonorOf is cutOffDonor, c's channel not telling its local member if anonymous
// (noLocal: c stamps its own changes with origin 0).
func cutOffDonorOf(t *testing.T, nw *channeltest.Network, cfg delta.Config, anonymous bool) cutOff {
	t.Helper()
	ctx := context.Background()
	_, ach := startByOrigin(t, nw, 0)
	av := &oneSideView{Channel: ach, hidden: new(atomic.Pointer[channel.MemberKey])}
	am := startJoiner(t, av, delta.ClusterConfig{}, withRoute(cfg, "a"))
	if err := am.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	_, bch := startByOrigin(t, nw, 1)
	bm := startJoiner(t, bch, delta.ClusterConfig{}, withRoute(cfg, "b"))
	if err := bm.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	ctn, cch := startByOrigin(t, nw, 2)
	cv := &viewChannel{Channel: cch}
	var cd delta.Channel = cv
	if anonymous {
		cd = noLocal{cv}
	}
	cm := startJoiner(t, cd, delta.ClusterConfig{}, withRoute(cfg, "c"))
	if err := cm.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	s, err := am.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	id := s.ID()
	if err := firstErr(s.Set("x", "start"), am.Replicate(ctx, s)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * delta.DefaultCatchUpWindow) // the joiners' windows are over
	synctest.Wait()

	av.hide(ctn.Member())
	synctest.Wait()
	sc := cm.Find(id)
	cv.unreachable.Store(true)
	if err := sc.Set("x", "c"); err != nil {
		t.Fatal(err)
	}
	if err := cm.Replicate(ctx, sc); !errors.Is(err, channel.ErrConnect) {
		t.Fatalf("c's change, cut off: %v, want ErrConnect", err)
	}
	cv.unreachable.Store(false)
	return cutOff{am: am, bm: bm, s: s, id: id, ctn: ctn}
}
