package interceptors

import (
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/gotribes/tribes/channel"
)

// The defaults docs/operations.md gives for what interceptors hold and log, as literal
// values rather than the constants, read from interceptors built from text as a node
// builds them: dispatch's maxQueueSize (64 MiB), order's maxQueue (4096) and
// maxQueueBytes (64 MiB), fragmentation's MaxPendingBytes (1 GiB), twophasecommit's
// MaxHeldBytes (1 GiB), throughput's interval (10 000) and domain's logInterval (100).
func TestDefaultsAsDocumented(t *testing.T) {
	ics, err := Build("dispatch,order,fragmentation,twophasecommit,throughput,domain", nil)
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
		case *MessageDispatch:
			check("dispatch maxQueueSize", ic.cfg.MaxQueueSize, int64(64<<20))
		case *Order:
			check("order maxQueue", ic.cfg.MaxQueue, 4096)
			check("order maxQueueBytes", ic.cfg.MaxQueueBytes, 64<<20)
		case *Fragmentation:
			check("fragmentation MaxPendingBytes", ic.cfg.MaxPendingBytes, 1<<30)
		case *TwoPhaseCommit:
			check("twophasecommit MaxHeldBytes", ic.cfg.MaxHeldBytes, int64(1<<30))
		case *Throughput:
			check("throughput interval", ic.cfg.Interval, 10000)
		case *DomainFilter:
			check("domain logInterval", ic.cfg.LogInterval, 100)
		}
	}
	if seen != 7 {
		t.Fatalf("%d defaults checked, want 7: Build returned %T", seen, ics)
	}
}

// The defaults of the tables of docs/interceptors*.md that no other test holds, read from
// interceptors built from text without properties: twophasecommit's expire (60 s),
// simplecoordinator's quiet period (2.5 s, Tomcat's 10 × 250 ms), and for gzip, zstd and s2
// compressionMinSize 0, their option flags (0x0100, 0x0200, 0x0400), zstd's level fastest,
// s2's fast, maxDecompressedSize 64 MiB and acceptNonMembers false.
func TestGuideDefaultsAsDocumented(t *testing.T) {
	ics, err := Build("twophasecommit,simplecoordinator,gzip,zstd,s2", nil)
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
		case *TwoPhaseCommit:
			check("twophasecommit expire", ic.cfg.Expire, 60*time.Second)
		case *SimpleCoordinator:
			check("simplecoordinator QuietPeriod", ic.cfg.QuietPeriod, 2500*time.Millisecond)
		case *Gzip:
			c := ic.Config()
			check("gzip compressionMinSize", c.MinSize, 0)
			check("gzip optionFlag", c.Flag, channel.SendOptions(0x0100))
			check("gzip acceptNonMembers", c.AcceptNonMembers, false)
		case *Zstd:
			c := ic.Config()
			check("zstd compressionMinSize", c.MinSize, 0)
			check("zstd optionFlag", c.Flag, channel.SendOptions(0x0200))
			check("zstd level", c.Level, zstd.SpeedFastest)
			check("zstd maxDecompressedSize", c.MaxDecompressedSize, 64<<20)
			check("zstd acceptNonMembers", c.AcceptNonMembers, false)
		case *S2:
			c := ic.Config()
			check("s2 compressionMinSize", c.MinSize, 0)
			check("s2 optionFlag", c.Flag, channel.SendOptions(0x0400))
			check("s2 level", c.Level, S2Fast)
			check("s2 maxDecompressedSize", c.MaxDecompressedSize, 64<<20)
			check("s2 acceptNonMembers", c.AcceptNonMembers, false)
		}
	}
	if seen != 15 {
		t.Fatalf("%d defaults checked, want 15: Build returned %T", seen, ics)
	}
}
