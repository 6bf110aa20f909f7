package delta

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/gotribes/tribes/transport/nio"
)

// The defaults docs/sessions.md, docs/failover.md and docs/consistency.md give, as
// literal values rather than the constants, so that a changed constant fails here until
// the documents follow it: a zero Config's and HTTPConfig's, and the bounds the pages
// state in numbers.
func TestDefaultsAsDocumented(t *testing.T) {
	var c Config
	c.Name = "localhost#/app"
	if err := c.fill(); err != nil {
		t.Fatal(err)
	}
	m := &Manager{cfg: c}
	mw, err := NewMiddleware(m, HTTPConfig{})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []struct {
		name      string
		got, want any
	}{
		{"MaxInactiveInterval", c.MaxInactiveInterval, 30 * time.Minute},
		{"ExpireInterval", c.ExpireInterval, 60 * time.Second},
		{"StateTransferTimeout", c.StateTransferTimeout, 60 * time.Second},
		{"MemberWait", c.MemberWait, 3 * time.Second},
		{"TransferIdleTimeout", c.TransferIdleTimeout, 10 * time.Second},
		{"MaxConcurrentTransfers", c.MaxConcurrentTransfers, 2},
		{"SendAllSessionsSize", c.SendAllSessionsSize, 1000},
		{"TransferGCPercent", c.TransferGCPercent, 400},
		{"AckedBatchWait", c.AckedBatchWait, 2 * time.Millisecond},
		{"Codec", fmt.Sprintf("%T", c.Codec), "delta.GobCodec"},
		{"Replication", c.Replication, ReplicateAsync},
		{"HTTPConfig.ReadyTimeout", mw.cfg.ReadyTimeout, 10 * time.Second},
		{"HTTPConfig.CookieName", mw.cfg.CookieName, "JSESSIONID"},
		{"HTTPConfig.CookiePath", mw.cfg.CookiePath, "/"},
		{"HTTPConfig.CookieSameSite", mw.cfg.CookieSameSite, http.SameSiteLaxMode},
		{"BinaryCodec MaxMessageSize", BinaryCodec{}.maxMessage(), 64 << 20},
		// sessions.md, "What can be stored": values up to 16 MiB, names up to 16 KiB.
		{"BinaryCodec MaxValueSize", BinaryCodec{}.maxValue(), 16 << 20},
		{"BinaryCodec MaxStringLen", BinaryCodec{}.maxString(), 16 << 10},
		// codec.go: four times the transport's default frame limit (it said equal).
		{"BinaryCodec MaxMessageSize / nio.DefaultMaxFrameSize", BinaryCodec{}.maxMessage() / nio.DefaultMaxFrameSize, 4},
		// sessions.md, security.md and tomcat.md: a non-member's messages held 10 s, at
		// most 64 per sender and 256 in all, each of at most 64 KiB and 1 MiB in all, 4
		// of them waiting for their ACK (JavaCodec).
		{"DefaultUnlistedRequestWait", DefaultUnlistedRequestWait, 10 * time.Second},
		{"maxUnlistedPerSender", maxUnlistedPerSender, 64},
		{"maxUnlisted", maxUnlisted, 256},
		{"maxUnlistedSize", maxUnlistedSize, 64 << 10},
		{"maxUnlistedBytes", maxUnlistedBytes, 1 << 20},
		{"maxUnlistedWaiting", maxUnlistedWaiting, 4},
		// failover.md: the catch-up's log of sessions sent lately, its margin, and the
		// record of removals and renames.
		{"maxRecentSent", maxRecentSent, 65536},
		{"catchUpSlack", catchUpSlack, 2 * time.Second},
		{"maxRemovals", maxRemovals, 131072},
		// consistency.md: a removal's record kept twice the interval, an hour when it never
		// expires, a minute at least; a refresh asks again every 250 ms; an overtaking
		// delta waits the repair's 200 ms; waits that ran out turn waiting off for 8 ms,
		// doubling up to 256 ms, with the default AckedBatchWait.
		{"keepRemoval(never)", keepRemoval(0), time.Hour},
		{"keepRemoval(10 s)", keepRemoval(10), time.Minute},
		{"keepRemoval(30 min)", keepRemoval(1800), time.Hour},
		{"refreshRetry", refreshRetry, 250 * time.Millisecond},
		{"repairSettle", repairSettle, 200 * time.Millisecond},
		{"waiting off at first", minQuietWaits * c.AckedBatchWait, 8 * time.Millisecond},
		{"waiting off at most", maxQuietWaits * c.AckedBatchWait, 256 * time.Millisecond},
	} {
		if f.got != f.want {
			t.Errorf("%s = %v, documented %v", f.name, f.got, f.want)
		}
	}
}
