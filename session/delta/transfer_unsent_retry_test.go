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

// failingDonor is donorFirst that drops the end of the first donor's transfer and then
// has the network kill that donor (its attempt fails, ErrDonorGone), and counts the
// requests for every session (not a catch-up's) it sends.
type failingDonor struct {
	donorFirst
	nw    *channeltest.Network
	donor *channeltest.Node
	once  sync.Once
	full  atomic.Int32
}

func (d *failingDonor) Send(ctx context.Context, to []channel.Member, data []byte, opts channel.SendOptions) error {
	if msg, err := (delta.BinaryCodec{}).DecodeMessage(data); err == nil &&
		msg.Event == delta.EventGetAllSessions && msg.Version&delta.AskRecent == 0 {
		d.full.Add(1)
	}
	return d.donorFirst.Send(ctx, to, data, opts)
}

func (d *failingDonor) AddMessageListener(l channel.MessageListener) func() {
	return d.donorFirst.AddMessageListener(channel.MessageListenerFunc(func(m *channel.Message) error {
		if m.Source.Key() == d.first {
			if msg, err := (delta.BinaryCodec{}).DecodeMessage(m.Data); err == nil && msg.Event == delta.EventTransferComplete {
				d.once.Do(func() { go d.nw.Kill(d.donor) })
				return nil
			}
		}
		if !l.Accept(m) {
			return nil
		}
		return l.MessageReceived(m)
	}))
}

// TestFailedDonorsRefusedChangesAskNoSecondTransfer: a joiner's first donor, c, was cut
// off and its transfer carried its refused change (origin 0), but the attempt failed (c
// died before its end); the next donor, a, carried none. The count of such sessions was
// not reset for a's attempt, and the joiner asked b for a second transfer it did not
// need: it now asks for every session twice only (c, a).
func TestFailedDonorsRefusedChangesAskNoSecondTransfer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		nw := channeltest.NewNetwork()
		cfg := delta.Config{Replication: delta.ReplicateAcked}
		co := cutOffDonor(t, nw, cfg)
		am, s, id, ctn := co.am, co.s, co.id, co.ctn
		if err := firstErr(s.Set("x", "a"), am.Replicate(ctx, s)); err != nil {
			t.Fatalf("a's change: %v", err)
		}
		time.Sleep(10 * time.Second)
		synctest.Wait()

		_, jch := newChannel(t, nw)
		fd := &failingDonor{donorFirst: donorFirst{Channel: jch, first: ctn.Member().Key()}, nw: nw, donor: ctn}
		jm := startJoiner(t, fd, delta.ClusterConfig{}, withRoute(cfg, "j"))
		_ = jm.WaitReady(ctx)
		time.Sleep(time.Minute)
		synctest.Wait()
		if got := attrs(jm, id); got != "x=a " {
			t.Errorf("j has %q; want a's x=a", got)
		}
		if n := fd.full.Load(); n != 2 {
			t.Errorf("j asked for every session %d times, want 2 (c, then a)", n)
		}
	})
}
