package delta_test

import (
	"context"
	"log/slog"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/session/delta"
)

// A member asks a node over and over for the sessions sent about lately (AskRecent, a
// joiner's catch-up, a member back's request) and refuses the answers: each answer is
// served at once, and each was logged ("sent the sessions sent about lately …" at Info,
// or, refused, "state transfer to a joining member aborted" at Warn) without a limit, so
// that the member wrote a line into the node's log per request for as long as it went
// on (173 KB for 500 requests). The lines are rate-limited per member now: the first
// ones, then a count.
func TestCatchUpAnswersLogBounded(t *testing.T) {
	ctx := context.Background()
	nw := channeltest.NewNetwork()
	var log testutil.Buffer
	a := startNode(t, nw, delta.Config{Logger: slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelInfo}))})
	if err := a.m.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	_, bch := newChannel(t, nw)
	testutil.EventuallyTrue(t, testutil.WaitLimit, "a lists b", func() bool {
		_, ok := a.ch.Member(bch.LocalMember().Key())
		return ok
	})
	req, err := (delta.BinaryCodec{}).AppendMessage(nil, &delta.Message{Event: delta.EventGetAllSessions, Context: appName,
		SessionID: "GET-ALL", Timestamp: 1, Version: delta.AskRecent | 60_000<<delta.AskAgeShift})
	if err != nil {
		t.Fatal(err)
	}
	const requests = 500
	flood := func(what string) {
		t.Helper()
		base := len(log.String())
		for range requests {
			if err := bch.Send(ctx, []channel.Member{a.ch.LocalMember()}, req, channel.OptUseAck|channel.OptSyncAck); err != nil {
				t.Fatal(err)
			}
		}
		if got := len(log.String()) - base; got > 16<<10 {
			t.Errorf("%d catch-up requests of one member, %s, wrote %d bytes of log (limit 16 KiB); the last lines:\n%s",
				requests, what, got, log.String()[max(0, len(log.String())-800):])
		}
	}
	flood("its answers refused") // b runs no cluster: no listener takes them
	bcl := newCluster(t, bch, delta.ClusterConfig{})
	defer func() { _ = bcl.Close(ctx) }()
	flood("its answers taken") // b's cluster takes them (and ignores them: no manager)
}
