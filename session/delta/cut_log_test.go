package delta_test

import (
	"log/slog"
	"testing"
	"time"

	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/session/delta"
)

// A member that lists this node sends it stale pings over and over, each naming a member
// in view with a lower id that lists this node: the check that follows each ends the cut,
// and each end was logged at Info ("a member said to be cut off from this node lists it:
// that cut is over") without a limit, so the member wrote a line into the node's log per
// ping (as the stand-down's Warn and its end's Info were, once per ping, before the
// stand-downs were bounded). The lines are rate-limited per member now: the log stays the
// same few lines however many pings come.
func TestRepeatedStalePingsLogBounded(t *testing.T) {
	defer delta.SetCutExpiry(time.Minute)()
	var log testutil.Buffer
	p := newPinger(t, slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelInfo})))
	flood := func(pings int) int {
		t.Helper()
		base := len(log.String())
		for range pings {
			c := p.checks.Load()
			p.ping(t)
			testutil.EventuallyTrue(t, 10*time.Second, "the ping's check answered and a serving again", func() bool {
				return p.checks.Load() > c && p.a.m.Refusing() == nil
			})
		}
		return len(log.String()) - base
	}
	first := flood(20) // the stand-down, its end and the refresh, then the first ends of cuts
	if got := flood(200); got > 2<<10 {
		t.Errorf("200 more stale pings of one member wrote %d bytes of log (limit 2 KiB, %d for the first 20); the last lines:\n%s",
			got, first, log.String()[max(0, len(log.String())-800):])
	}
}
