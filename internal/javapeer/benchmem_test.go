package javapeer

import (
	"context"
	"testing"
	"time"
)

// TestBenchSendMemoryIndependentOfCount: `tribesdemo bench` passes Count 10 000 000
// to bench-send and stops it by Seconds, and reports the sending JVM's peak resident set
// (MaxRssKb) next to the Go sender's. BenchSend keeps at most 1<<20 latencies, as Go's
// send and RawPingPong do (a latency array of Count, new long[count], put ~76 MiB of the
// harness's own buffer into the Java sender's figure). Two 1-second runs that differ only
// in Count must peak at about the same RSS.
func TestBenchSendMemoryIndependentOfCount(t *testing.T) {
	Skip(t)
	rx := Start(t, "--quiet")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	run := func(count int) BenchResult {
		res, err := RunBenchOpts(ctx, BenchOptions{To: rx.Member(), Count: count, Size: 64, Options: 1, Seconds: 1, Warmup: 100})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	small, large := run(100_000), run(10_000_000)
	const slack = 32 << 10 // KiB
	if large.MaxRssKb-small.MaxRssKb > slack {
		t.Errorf("bench-send peak RSS %d KiB with Count 10 000 000 (%d sent) against %d KiB with Count 100 000 (%d sent): %d KiB more for the same 1 s of sending",
			large.MaxRssKb, large.Count, small.MaxRssKb, small.Count, large.MaxRssKb-small.MaxRssKb)
	}
}
