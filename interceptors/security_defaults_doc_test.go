package interceptors

import (
	"testing"
	"time"
)

// The defaults docs/security.md gives in its table of defences that no other test holds as
// literal values, read from interceptors built from text as a node builds them:
// fragmentation's MaxMessageSize (256 MiB) and AcceptNonMembers (false), order's
// MaxHeldBytes (1 GiB), Expire (3 s) and AcceptNonMembers (false), gzip's
// MaxDecompressedSize (64 MiB, as zstd's and s2's in TestGuideDefaultsAsDocumented),
// the non-blocking coordinator's InboxLimit (64) and DeadMemberTTL (30 s), and the 1 024
// receive states order keeps for senders that were not members.
func TestSecurityDefaultsAsDocumented(t *testing.T) {
	ics, err := Build("fragmentation,order,gzip,nonblockingcoordinator", nil)
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	check := func(name string, got, want any) {
		t.Helper()
		seen++
		if got != want {
			t.Errorf("%s = %v (%T), documented %v (%T)", name, got, got, want, want)
		}
	}
	for _, ic := range ics {
		switch ic := ic.(type) {
		case *Fragmentation:
			c := ic.Config()
			check("fragmentation MaxMessageSize", c.MaxMessageSize, 256<<20)
			check("fragmentation AcceptNonMembers", c.AcceptNonMembers, false)
		case *Order:
			c := ic.Config()
			check("order MaxHeldBytes", c.MaxHeldBytes, 1<<30)
			check("order Expire", c.Expire, 3*time.Second)
			check("order AcceptNonMembers", c.AcceptNonMembers, false)
		case *Gzip:
			check("gzip MaxDecompressedSize", ic.Config().MaxDecompressedSize, 64<<20)
		case *NonBlockingCoordinator:
			check("nonblockingcoordinator InboxLimit", ic.cfg.InboxLimit, 64)
			check("nonblockingcoordinator DeadMemberTTL", ic.cfg.DeadMemberTTL, 30*time.Second)
		}
	}
	check("order's receive states of strangers", orderMaxStrangers, 1024)
	if seen != 9 {
		t.Fatalf("%d defaults checked, want 9: Build returned %T", seen, ics)
	}
}
