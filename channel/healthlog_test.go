package channel_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/ratelog"
	"github.com/gotribes/tribes/internal/testutil"
)

// A transport that fails and recovers over and over (a stranger churning connections at
// the receiver's descriptor limit makes it) writes a few lines a minute, not two per
// cycle (before: 300 cycles, 600 lines; the target of such an attack wrote about half of
// its 283 KB of log in 6 s this way). Every event still reaches the listeners and Healthy.
func TestHealthFlappingLogBounded(t *testing.T) {
	var logBuf testutil.Buffer
	log := slog.New(slog.NewTextHandler(&logBuf, &slog.HandlerOptions{Level: slog.LevelWarn}))
	nw := channeltest.NewNetwork()
	n := nw.NewNode()
	tr := &healthTransport{Transport: n.Transport()}
	ch, err := channel.New(channel.Config{Transport: tr, Membership: n.Membership(), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	rec := &healthRecorder{}
	ch.AddMembershipListener(rec)
	if err := ch.Start(context.Background(), channel.SvcAll); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ch.Stop(context.Background(), channel.SvcAll) })
	const cycles = 300
	for i := range cycles {
		tr.report(fmt.Errorf("%w: accept failed %d", channel.ErrReceiverFailed, i))
		if ch.Healthy() {
			t.Fatalf("cycle %d: healthy after a failure", i)
		}
		tr.report(nil)
		if !ch.Healthy() {
			t.Fatalf("cycle %d: unhealthy after the recovery", i)
		}
	}
	rec.mu.Lock()
	events := len(rec.health)
	rec.mu.Unlock()
	if events != 2*cycles {
		t.Fatalf("%d health events for %d cycles, want %d", events, cycles, 2*cycles)
	}
	out := logBuf.String()
	failures, recoveries := strings.Count(out, "tribes channel unhealthy"), strings.Count(out, "tribes channel healthy again")
	if failures == 0 || recoveries == 0 || failures > ratelog.DefaultFirst || recoveries > ratelog.DefaultFirst {
		t.Fatalf("%d failure and %d recovery lines for %d cycles, want 1 to %d each:\n%s",
			failures, recoveries, cycles, ratelog.DefaultFirst, out)
	}
}
