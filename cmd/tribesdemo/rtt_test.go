package main

import (
	"testing"
	"time"
)

// rtt --seconds is "time limit in seconds" and --count's help says "the run also ends after
// --seconds"; like send's, rtt's warm-up gets --seconds at most too. With a peer that does
// not echo (--mode echo), each of the --warmup probes waits the whole --timeout, so
// "--seconds 1 --warmup 30 --timeout 300ms" ran for 10 s and more when the warm-up ignored
// the limit (30 x 300 ms of warm-up, then the measured second).
func TestRTTWarmupHonoursSeconds(t *testing.T) {
	plain := startNode(t, "--quiet") // no --echo: every echo probe times out
	start := time.Now()
	res, err := runJSON[rttResult](t, runRTT, "--port", "0", "--static", plain, "--mode", "echo", "--seconds", "1",
		"--timeout", "300ms", "--warmup", "30", "--count", "1000", "--json")
	el := time.Since(start)
	t.Logf("rtt: %v, %+v", err, res)
	// 1 s of limit, at most one probe's --timeout beyond it, and generous slack for a busy machine.
	if el > 5*time.Second {
		t.Errorf("rtt --seconds 1 took %v: its %d warm-up probes ran outside the time limit", el.Round(time.Millisecond), 30)
	}
}
