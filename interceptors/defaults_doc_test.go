package interceptors

import "testing"

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
