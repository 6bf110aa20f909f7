package replmap_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/ratelog"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/replmap"
)

// backupsRefused fails the MSG_BACKUPs sent once on is set, counting them.
type backupsRefused struct {
	channel.InterceptorBase
	on     atomic.Bool
	failed atomic.Int64
}

func (r *backupsRefused) SendMessage(ctx context.Context, to []channel.Member, msg *channel.Message) error {
	if r.on.Load() && replmap.MessageType(msg.Data) == msgBackupType {
		r.failed.Add(1)
		return errors.New("test: send refused")
	}
	return r.Next().SendMessage(ctx, to, msg)
}

// The failures of the sends a member's requests to send an entry again start
// (resend.go) are logged rate-limited per asking member: ten failed resends write at
// most ratelog.DefaultFirst lines. Before, each wrote one (ten lines).
func TestResendFailuresRateLimited(t *testing.T) {
	const keys = 10
	nw := channeltest.NewNetwork()
	refuse := &backupsRefused{}
	log := &lineLog{text: "send again an entry"}
	a, b := twoMaps(t, nw, replmap.Config{Logger: slog.New(log)}, replmap.Config{}, refuse)
	for i := range keys {
		if _, err := a.m.Put(ctx(t), fmt.Sprint("k", i), "v"); err != nil {
			t.Fatal(err)
		}
	}
	refuse.on.Store(true)
	bm := b.ch.LocalMember()
	for i := range keys {
		if err := replmap.AskResend(a.m, bm, fmt.Sprint("k", i), bm); err != nil {
			t.Fatal(err)
		}
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, fmt.Sprintf("%d resends failed", keys), func() bool {
		return refuse.failed.Load() >= keys
	})
	// Stop waits for the resends (passes), their logging included.
	if err := a.m.Stop(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if n := log.n.Load(); n < 1 || n > ratelog.DefaultFirst {
		t.Fatalf("%d failed resends logged %d lines, want 1 to %d", keys, n, ratelog.DefaultFirst)
	}
}
