package testutil

import "runtime"

// Allocated returns how many bytes f allocated (the growth of runtime.MemStats'
// TotalAlloc), after a garbage collection: the measure of the tests that bound what a
// decoder allocates for its input.
func Allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}
