package main

import (
	"strconv"
	"testing"
	"time"
)

// rtt --seconds is "time limit in seconds" and --count's help says "the run also ends after
// --seconds"; like send's, rtt's warm-up gets --seconds at most too. With a peer that does
// not echo (--mode echo), each of the --warmup probes waits the whole --timeout, so
// "--seconds 1 --warmup 30 --timeout 300ms" ran for 10 s and more when the warm-up ignored
// the limit (30 x 300 ms of warm-up, then the measured second). Here 100 warm-up probes
// would take 30 s: the run, about 2 s (a second of warm-up, a measured second, a probe's
// --timeout beyond each), must end within half of that.
func TestRTTWarmupHonoursSeconds(t *testing.T) {
	const warmup, timeout = 100, 300 * time.Millisecond
	plain := startNode(t, "--quiet") // no --echo: every echo probe times out
	start := time.Now()
	res, err := runJSON[rttResult](t, runRTT, "--port", "0", "--static", plain, "--mode", "echo", "--seconds", "1",
		"--timeout", timeout.String(), "--warmup", strconv.Itoa(warmup), "--count", "1000", "--json")
	el := time.Since(start)
	t.Logf("rtt: %v, %+v", err, res)
	if limit := warmup * timeout / 2; el > limit {
		t.Errorf("rtt --seconds 1 took %v, over %v: its %d warm-up probes ran outside the time limit", el.Round(time.Millisecond), limit, warmup)
	}
}
