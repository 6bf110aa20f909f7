package testutil

import "runtime"

// Allocated returns how many bytes f allocated (the growth of runtime.MemStats'
// TotalAlloc), after a garbage collection: the measure of the tests that bound what a
// decoder allocates for its input. TotalAlloc counts every goroutine's allocations: f
// runs with GOMAXPROCS 1 (as in testing.AllocsPerRun), so that goroutines an earlier
// test left running run only where f blocks or is preempted, not beside it.
func Allocated(f func()) uint64 {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}
