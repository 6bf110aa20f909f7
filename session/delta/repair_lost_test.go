package delta_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/session/delta"
)

// losingChannel loses what its cluster sends while losing is set, without an error:
// an asynchronous send that left and never arrived (a member that crashed with it unread,
// or dropped it).
type losingChannel struct {
	*channel.Channel
	losing atomic.Bool
}

func (d *losingChannel) Send(ctx context.Context, to []channel.Member, data []byte, opts channel.SendOptions) error {
	if d.losing.Load() {
		return nil
	}
	return d.Channel.Send(ctx, to, data, opts)
}

func (d *losingChannel) SendMessage(ctx context.Context, to []channel.Member, msg *channel.Message) error {
	if d.losing.Load() {
		return nil
	}
	return d.Channel.SendMessage(ctx, to, msg)
}

// lose runs f with d's sends lost.
func (d *losingChannel) lose(f func()) {
	d.losing.Store(true)
	defer d.losing.Store(false)
	f()
}

// startLosing starts a ready node whose cluster sends through a losingChannel.
func startLosing(t *testing.T, nw *channeltest.Network, cfg delta.Config) (*delta.Manager, *losingChannel) {
	t.Helper()
	_, ch := newChannel(t, nw)
	d := &losingChannel{Channel: ch}
	return readyManager(t, d, nil, cfg), d
}

// TestRepairResendsALostAsyncChange: with asynchronous replication a's request sets
// x=a and is answered; its delta leaves and is lost without an error, so j keeps
// x=start. The client moves to j, which renames the session (S.a to S.j) and changes y
// three times; the rename and the first two deltas are lost too, so a, which holds S.a
// only, repairs: it asks j for its sessions and loads j's copy over its own, keeping x=a
// (stamped above j's x=start: the change j lacks). Both nodes must end with x=a, the
// write the client was told succeeded: a keeps it and must send it again. (a kept it by
// its stamp alone, marked neither pending nor changed here, and sent it to nobody: a
// showed x=a and j x=start for good, until the next change of x.)
func TestRepairResendsALostAsyncChange(t *testing.T) {
	ctx := context.Background()
	nw := channeltest.NewNetwork()
	a, da := startLosing(t, nw, delta.Config{JvmRoute: "a"})
	j, dj := startLosing(t, nw, delta.Config{JvmRoute: "j"})
	for _, d := range []*losingChannel{da, dj} {
		if err := d.WaitForMembers(ctx, 1); err != nil {
			t.Fatal(err)
		}
	}
	sa, id := startedSession(t, a) // version 1, x=start
	testutil.EventuallyTrue(t, 10*time.Second, "j holds the session", func() bool {
		return attrs(j, id) == "x=start "
	})

	da.lose(func() {
		if err := sa.Set("x", "a"); err != nil {
			t.Fatal(err)
		}
		if err := a.Replicate(ctx, sa); err != nil { // sent (version 2), lost on its way
			t.Fatal(err)
		}
	})

	sj := j.Find(id)
	newID := id[:len(id)-1] + "j"
	dj.lose(func() {
		if _, err := j.ChangeSessionID(ctx, sj, newID); err != nil { // the binder's, on failover
			t.Fatal(err)
		}
		for v := range 2 { // versions 2 and 3
			if err := sj.Set("y", v); err != nil {
				t.Fatal(err)
			}
			if err := j.Replicate(ctx, sj); err != nil {
				t.Fatal(err)
			}
		}
	})
	if err := sj.Set("y", 2); err != nil {
		t.Fatal(err)
	}
	if err := j.Replicate(ctx, sj); err != nil { // version 4: a lacks 3, and repairs
		t.Fatal(err)
	}
	testutil.EventuallyTrue(t, 10*time.Second, "a's repair", func() bool {
		return a.Stats().TransferRepairs > 0 && a.Find(newID) != nil && delta.RepairIdle(a)
	})

	const want = "x=a y=2 "
	testutil.Eventually(t, 10*time.Second, func() error {
		if onA, onJ := attrs(a, newID), attrs(j, newID); onA != want || onJ != want {
			return fmt.Errorf("after a's repair a holds %q, j %q; want both %q (x=a: a's answered change, "+
				"whose delta was lost)", onA, onJ, want)
		}
		return nil
	})
}
