package main

import (
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/gotribes/tribes/internal/javapeer"
)

// TestJavaFailedSendsAreAnError: a Go run with a failed send is an error of its row
// (goSummary: no ratio is printed), and so must be a Java run whose bench-send reported
// failed sends (BenchResult.Failed: sends that threw, e.g. after an ACK timeout): its
// lower rate of successful sends would flatter Go's ratio. Both sides' failures count
// the same.
func TestJavaFailedSendsAreAnError(t *testing.T) {
	row := func(goRate float64, java javapeer.BenchResult) []benchRow {
		return []benchRow{{size: 64, receivers: 1, mode: "sync", goRes: sendResult{MsgsPerSec: goRate, Sent: 10000}, javaRes: java}}
	}
	failing := javapeer.BenchResult{Count: 2000, Failed: 3, MsgsPerSec: 1000, FirstError: "ChannelException: Send failed, attempt:2 max:1"}
	got := medianRows([][]benchRow{
		row(5000, failing),
		row(5000, failing),
		row(5000, failing),
	})
	if got[0].javaErr == nil {
		t.Errorf("every Java run had failed sends (Failed %d of %d), yet the row has no Java error and its ratio is %.2fx",
			failing.Failed, failing.Count, got[0].goRes.MsgsPerSec/got[0].javaRes.MsgsPerSec)
	}
}

// TestMedianOfEvenRuns: --runs takes 1..9, and the report says "median of N runs": with
// an even number of runs that is the mean of the two middle runs, not the upper one (the
// faster of 2 runs), on each side.
func TestMedianOfEvenRuns(t *testing.T) {
	row := func(goRate, javaRate float64) []benchRow {
		return []benchRow{{size: 64, receivers: 1, mode: "none",
			goRes: sendResult{MsgsPerSec: goRate}, javaRes: javapeer.BenchResult{MsgsPerSec: javaRate}}}
	}
	got := medianRows([][]benchRow{row(100, 190), row(300, 210)})
	if g, j := got[0].goRes.MsgsPerSec, got[0].javaRes.MsgsPerSec; g != 200 || j != 200 {
		t.Errorf("median of 2 runs: Go %.0f (runs 100, 300), Java %.0f (runs 190, 210), want 200 and 200; Go/Java %.2fx instead of 1.00x",
			g, j, g/j)
	}
}

// TestPercentilesAsJava: the bench table prints Go's and Java's p50/p99 side by
// side, so Go's summarize takes the nearest rank, ceil(p*n)-1, as Java's BenchSend.pct:
// of 100 latencies 1..100 µs both report 50/99 (indexes n/2 and n*99/100 gave 51/100,
// a p99 that is the maximum).
func TestPercentilesAsJava(t *testing.T) {
	lat := make([]time.Duration, 100)
	for i := range lat {
		lat[i] = time.Duration(i+1) * time.Microsecond
	}
	var r sendResult
	var ms0 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	r.summarize(lat, time.Second, readWork(os.Getpid()), &ms0)
	if r.P50us != 50 || r.P99us != 99 {
		t.Errorf("latencies 1..100 µs: Go p50/p99 %.0f/%.0f, Java's BenchSend.pct gives 50/99", r.P50us, r.P99us)
	}
}
