package testutil

import (
	"sync/atomic"
	"testing"
	"time"
)

var busySink []byte

// TestAllocatedIgnoresABusyGoroutine: a goroutine left running that allocates all the
// time does not count in what Allocated measures of a call allocating nothing (before,
// it ran beside the call on another P: megabytes in a millisecond). The call is measured
// once (a caller's call may not be repeatable), so a few tries may see a preemption.
func TestAllocatedIgnoresABusyGoroutine(t *testing.T) {
	var stop atomic.Bool
	done := make(chan struct{})
	started := make(chan struct{})
	go func() {
		defer close(done)
		close(started)
		for !stop.Load() {
			busySink = make([]byte, 64)
		}
	}()
	defer func() { stop.Store(true); <-done }()
	<-started
	least := ^uint64(0)
	for range 5 {
		least = min(least, Allocated(func() {
			for start := time.Now(); time.Since(start) < time.Millisecond; {
			}
		}))
	}
	if least >= 4<<10 {
		t.Errorf("a call allocating nothing measured %d bytes beside a busy goroutine", least)
	}
}
