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
// harness's own buffer into the Java sender's figure). So a sender limited to a 64 MiB
// heap sends with Count 10 000 000: a long[10 000 000] (80 MB) would not fit, and the JVM
// would end with an OutOfMemoryError. (The test compared two runs' peak RSS: under CI's
// load their young generations grew by up to 44 MiB apart with the sending rate.)
func TestBenchSendMemoryIndependentOfCount(t *testing.T) {
	Skip(t)
	rx := Start(t, "--quiet")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := RunBenchOpts(ctx, BenchOptions{To: rx.Member(), Count: 10_000_000, Size: 64, Options: 1, Seconds: 1,
		Warmup: 100, JVMArgs: []string{"-Xmx64m"}})
	if err != nil {
		t.Fatalf("bench-send with Count 10 000 000 in a 64 MiB heap: %v", err)
	}
	if res.Count == 0 {
		t.Fatalf("bench-send with Count 10 000 000 in a 64 MiB heap sent nothing: %+v", res)
	}
}
