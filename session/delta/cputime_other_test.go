//go:build !unix

package delta_test

import (
	"testing"
	"time"
)

// processCPU returns 0: the process's CPU time is read with getrusage(2), which only Unix
// systems have, so the benchmarks' CPU metrics read 0 here.
func processCPU(testing.TB) time.Duration { return 0 }

// processSwitches returns 0, as processCPU does.
func processSwitches(testing.TB) int64 { return 0 }
