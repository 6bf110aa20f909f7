package delta

import (
	"testing"
	"time"
)

// The defaults and bounds docs/failover.md, docs/security.md and docs/consistency.md give
// that TestDefaultsAsDocumented does not hold, as literal values rather than the
// constants, so that a changed constant fails here until the documents follow: a zero
// Config's CatchUpWindow (60 s); MaxNoContextReplies (16); JavaCodec's MaxExpansion (16);
// the probes of partial partitions a node runs for others at once (16), and the wait for
// a check after one ended a cut by the same member (10 s); a refresh's sessions whose
// kept changes are sent again at once (4 096) and messages waiting for it (65 536); and
// the others listed below.
func TestBoundsAsDocumented(t *testing.T) {
	var c Config
	c.Name = "localhost#/app"
	if err := c.fill(); err != nil {
		t.Fatal(err)
	}
	for _, f := range []struct {
		name      string
		got, want any
	}{
		{"CatchUpWindow", c.CatchUpWindow, 60 * time.Second},
		{"MaxNoContextReplies", MaxNoContextReplies, 16},
		{"DefaultMaxExpansion", DefaultMaxExpansion, 16},
		{"maxProbing", maxProbing, 16},
		{"cutHoldOff", cutHoldOff, 10 * time.Second},
		{"maxKept", maxKept, 4096},
		{"maxRefreshQueue", maxRefreshQueue, 65536},
		// failover.md: a member that refuses a catch-up is asked again every second; a
		// session keeps at most eight ids a binder's renames left, 2 KiB of them in all.
		{"askAgainAfter", askAgainAfter, time.Second},
		{"maxLeft", maxLeft, 8},
		{"maxLeftBytes", maxLeftBytes, 2048},
		// consistency.md, partitions of some links: probes every second, a cut over once
		// not confirmed for 3 seconds, a member no one reached for 5 seconds no longer
		// probed, and the first round of probes of a member that left (no change
		// acknowledged meanwhile) over within 2.25 seconds.
		{"probeEvery", probeEvery, time.Second},
		{"cutExpiry", cutExpiry, 3 * time.Second},
		{"probeGiveUp", probeGiveUp, 5 * time.Second},
		{"firstRoundLimit", firstRoundLimit(), 2250 * time.Millisecond},
	} {
		if f.got != f.want {
			t.Errorf("%s = %v, documented %v", f.name, f.got, f.want)
		}
	}
}
