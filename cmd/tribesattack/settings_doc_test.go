package main

import (
	"slices"
	"testing"
	"time"
)

// The suite's shape as docs/security.md ("The attack suite") gives it: after 2 s of load
// each attack runs 5 s (with -short, 1 s and 2.5 s), each node creates 50 sessions, B and
// C send 100 acknowledged messages a second to each other member, and the nodes run with
// FirstFrameTimeout 500 ms and FrameTimeout 1 s; the attacks, in the table's order, with
// RLIMIT_NOFILE 256 on the target for the descriptor attacks, multicast membership for
// forged heartbeats, the static membership protocol for the forged STOP and the encrypt
// interceptor for the replay attack only.
func TestSuiteSettingsAsDocumented(t *testing.T) {
	for _, short := range []bool{false, true} {
		c := defaultSuite("", short)
		baseline, duration := 2*time.Second, 5*time.Second
		if short {
			baseline, duration = time.Second, 2500*time.Millisecond
		}
		if c.baseline != baseline || c.duration != duration || c.sessions != 50 || c.load != 100 ||
			c.firstFrame != 500*time.Millisecond || c.frame != time.Second {
			t.Errorf("short %v: %+v, documented load %v, attack %v, 50 sessions, 100 messages a second, timeouts 500ms and 1s",
				short, c, baseline, duration)
		}
	}
	var names []string
	for _, a := range attacks {
		names = append(names, a.name)
		want := clusterOpts{}
		switch a.name {
		case "fd-exhaustion", "fd-churn":
			want.targetNofile = 256
		case "forged-heartbeats":
			want.mcast = true
		case "forged-stop":
			want.staticProtocol = true
		case "replay":
			want.encrypt = true
		}
		if a.opts != want {
			t.Errorf("%s: cluster %+v, documented %+v", a.name, a.opts, want)
		}
	}
	documented := []string{"garbage", "lying-length", "slowloris", "idle-2000", "oversize", "partial-100",
		"no-ack-reader-4", "no-ack-reader-100", "fd-exhaustion", "fd-churn", "forged-heartbeats",
		"stranger-sessions", "forged-stop", "replay"}
	if !slices.Equal(names, documented) {
		t.Errorf("attacks %v, documented %v", names, documented)
	}
}
