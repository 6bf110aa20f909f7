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

// noLocal is a delta.Channel that does not tell its local member (no LocalMember): the
// cluster on it stamps the changes made there with origin 0.
type noLocal struct{ delta.Channel }

// countFull is donorFirst that counts the requests for every session (not a catch-up's)
// it sends.
type countFull struct {
	donorFirst
	full *atomic.Int32
}

func (c countFull) Send(ctx context.Context, to []channel.Member, data []byte, opts channel.SendOptions) error {
	if msg, err := (delta.BinaryCodec{}).DecodeMessage(data); err == nil &&
		msg.Event == delta.EventGetAllSessions && msg.Version&delta.AskRecent == 0 {
		c.full.Add(1)
	}
	return c.donorFirst.Send(ctx, to, data, opts)
}

// A donor whose channel does not tell its local member stamps every change made on it
// with origin 0, the mark a transfer gives a change refused before any send on its donor
// (yieldUnsent): a joiner from it took each of the donor's acknowledged changes for a
// refused one and asked one more member for every session, a second full transfer on
// every join. The donor now says, in its EVT_ALL_SESSION_TRANSFERCOMPLETE, how many of
// the sessions it sent carried a change refused on it: none here, and the joiner asks
// for every session once, holding a's value.
func TestJoinerFromADonorWithoutIdentityAsksOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		nw := channeltest.NewNetwork()
		cfg := delta.Config{Replication: delta.ReplicateAcked}
		atn, ach := newChannel(t, nw)
		am := startJoiner(t, noLocal{ach}, delta.ClusterConfig{}, withRoute(cfg, "a"))
		if err := am.WaitReady(ctx); err != nil {
			t.Fatal(err)
		}
		startReady(t, nw, withRoute(cfg, "b"))
		s := create(t, &node{tn: atn, ch: ach, m: am}, "x", "a")
		if err := firstErr(s.Set("x", "a2"), am.Replicate(ctx, s)); err != nil {
			t.Fatalf("a's change: %v", err)
		}
		time.Sleep(2 * delta.DefaultCatchUpWindow)
		synctest.Wait()

		var full atomic.Int32
		_, jch := newChannel(t, nw)
		jm := startJoiner(t, countFull{donorFirst{Channel: jch, first: atn.Member().Key()}, &full},
			delta.ClusterConfig{}, withRoute(cfg, "j"))
		if err := jm.WaitReady(ctx); err != nil {
			t.Fatal(err)
		}
		if d := jm.Stats().TransferDonor; d != atn.Member().Addr() {
			t.Fatalf("j's donor is %s, want a (%s)", d, atn.Member().Addr())
		}
		if n := full.Load(); n != 1 {
			t.Errorf("j asked for every session %d times, want once (a's transfer carried no refused change)", n)
		}
		if got := attrs(jm, s.ID()); got != "x=a2 " {
			t.Errorf("j has %q, want a's x=a2", got)
		}
	})
}

// A donor whose channel does not tell its local member and that was cut off when it made
// a change (refused before any send) still has its joiner ask one more member for every
// session, as one that tells it does (TestJoinerFromACutOffDonorTakesTheMajoritysValue):
// the joiner holds the majority's value, not the donor's refused one.
func TestJoinerFromACutOffDonorWithoutIdentityTakesTheMajoritysValue(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		nw := channeltest.NewNetwork()
		cfg := delta.Config{Replication: delta.ReplicateAcked}
		co := cutOffDonorOf(t, nw, cfg, true)
		if err := firstErr(co.s.Set("x", "a"), co.am.Replicate(ctx, co.s)); err != nil {
			t.Fatalf("a's change: %v", err)
		}
		time.Sleep(10 * time.Second)
		synctest.Wait()

		var full atomic.Int32
		_, jch := newChannel(t, nw)
		jm := startJoiner(t, countFull{donorFirst{Channel: jch, first: co.ctn.Member().Key()}, &full},
			delta.ClusterConfig{}, withRoute(cfg, "j"))
		if err := jm.WaitReady(ctx); err != nil {
			t.Fatal(err)
		}
		if d := jm.Stats().TransferDonor; d != co.ctn.Member().Addr() {
			t.Fatalf("j's donor is %s, want c (%s)", d, co.ctn.Member().Addr())
		}
		if n := full.Load(); n != 2 {
			t.Errorf("j asked for every session %d times, want twice (c's transfer carried its refused change)", n)
		}
		if got := attrs(jm, co.id); got != "x=a " {
			t.Errorf("j, whose donor was c, has %q; want the majority's x=a", got)
		}
	})
}

// olderDonor is countFull whose joiner reads the first donor's
// EVT_ALL_SESSION_TRANSFERCOMPLETE as a Go node of an earlier version sends it: without
// the count of the sessions that carried a refused change (Version 0).
type olderDonor struct{ countFull }

func (d olderDonor) AddMessageListener(l channel.MessageListener) func() {
	return d.countFull.AddMessageListener(channel.MessageListenerFunc(func(m *channel.Message) error {
		if m.Source.Key() == d.first {
			if msg, err := (delta.BinaryCodec{}).DecodeMessage(m.Data); err == nil && msg.Event == delta.EventTransferComplete {
				msg.Version = 0
				data, err := (delta.BinaryCodec{}).AppendMessage(nil, msg)
				if err != nil {
					return err
				}
				c := *m
				c.Data = data
				m = &c
			}
		}
		if !l.Accept(m) {
			return nil
		}
		return l.MessageReceived(m)
	}))
}

// A cut-off donor of an earlier version does not say how many of the sessions it sent
// carried a refused change: its joiner still finds them by their stamps (origin 0) and
// asks one more member for every session, holding the majority's value.
func TestJoinerFromAnOlderCutOffDonorTakesTheMajoritysValue(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		nw := channeltest.NewNetwork()
		cfg := delta.Config{Replication: delta.ReplicateAcked}
		co := cutOffDonor(t, nw, cfg)
		if err := firstErr(co.s.Set("x", "a"), co.am.Replicate(ctx, co.s)); err != nil {
			t.Fatalf("a's change: %v", err)
		}
		time.Sleep(10 * time.Second)
		synctest.Wait()

		var full atomic.Int32
		_, jch := newChannel(t, nw)
		jm := startJoiner(t, olderDonor{countFull{donorFirst{Channel: jch, first: co.ctn.Member().Key()}, &full}},
			delta.ClusterConfig{}, withRoute(cfg, "j"))
		if err := jm.WaitReady(ctx); err != nil {
			t.Fatal(err)
		}
		if d := jm.Stats().TransferDonor; d != co.ctn.Member().Addr() {
			t.Fatalf("j's donor is %s, want c (%s)", d, co.ctn.Member().Addr())
		}
		if n := full.Load(); n != 2 {
			t.Errorf("j asked for every session %d times, want twice (c's transfer carried its refused change)", n)
		}
		if got := attrs(jm, co.id); got != "x=a " {
			t.Errorf("j, whose donor was c, has %q; want the majority's x=a", got)
		}
	})
}
