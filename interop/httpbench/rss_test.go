package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestUnknownRSSIsNotMet: rssKiB gives 0 when a server's /proc/PID/status cannot be
// read (the process ended, e.g. a Go node that crashed during the run). An RSS of 0 is
// unknown, not small: the memory target must not be met on it, on either side.
func TestUnknownRSSIsNotMet(t *testing.T) {
	var ms []measurement
	for r := range 3 {
		ms = append(ms,
			measurement{Config: cfgSingle, Side: "tomcat", Run: r + 1, RSS: []int64{350 << 10}, Load: loadResult{ReqPerSec: 15000}},
			measurement{Config: cfgSingle, Side: "go", Run: r + 1, RSS: []int64{rssKiB(-1)}, Load: loadResult{ReqPerSec: 0, Errors: 16}})
	}
	var out bytes.Buffer
	report(&out, ms)
	for _, line := range strings.Split(out.String(), "\n") {
		if strings.HasPrefix(line, "| RSS Go / Tomcat node 1, single |") && strings.Contains(line, "<= 0.25 met") {
			t.Errorf("Go node 1's resident memory could not be read in any run (rssKiB = 0), yet the memory target is met:\n%s", line)
		}
	}
}
