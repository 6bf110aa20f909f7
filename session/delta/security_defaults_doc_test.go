package delta

import (
	"testing"
	"time"
)

// The defaults and bounds docs/failover.md and docs/security.md give that
// TestDefaultsAsDocumented does not hold, as literal values rather than the constants, so
// that a changed constant fails here until the documents follow it: a zero Config's
// CatchUpWindow (60 s); MaxNoContextReplies (16); JavaCodec's MaxExpansion (16); the
// probes of partial partitions a node runs for others at once (16), and the wait for a
// check after one ended a cut by the same member (10 s).
func TestFailoverAndSecurityDefaultsAsDocumented(t *testing.T) {
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
	} {
		if f.got != f.want {
			t.Errorf("%s = %v, documented %v", f.name, f.got, f.want)
		}
	}
}
