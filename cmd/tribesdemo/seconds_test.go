package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

// --seconds is "time limit in seconds (0 = none)". A limit too large for a time.Duration
// (here 1e10 s, about 317 years) once overflowed time.Duration(seconds*float64(time.Second))
// to a negative duration, so the node's context had ended before it started: "node
// --seconds 1e10" printed started and stopped and exited 0 at once. Either a usage error
// (exit 2) or a node that runs until it is stopped is right (secondsLimit: no limit); a
// node that is gone as soon as it said "started" is not.
func TestNodeHugeSecondsKeepsRunning(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	lines, done := startCmd(t, ctx, "node", "--port", "0", "--quiet", "--seconds", "1e10")
	var started map[string]any
	select {
	case m, ok := <-lines:
		if !ok {
			if code := <-done; code != 2 {
				t.Fatalf("node --seconds 1e10 printed nothing and exited %d; want a usage error (2) or a running node", code)
			}
			return // refused as a usage error: fine
		}
		started = m
	case code := <-done:
		if code != 2 {
			t.Fatalf("node --seconds 1e10 exited %d; want a usage error (2) or a running node", code)
		}
		return
	}
	if started["event"] != "started" {
		t.Fatalf("first line %v", started)
	}
	// The node must still be there to receive (synchronously acknowledged) messages.
	res, err := runJSON[sendResult](t, runSend, "--port", "0", "--static", memberArg(started), "--count", "3", "--size", "10",
		"--options", "use_ack,sync", "--seconds", "30")
	cancel()
	var stopped map[string]any
	for m := range lines {
		if m["event"] == "stopped" {
			stopped = m
		}
	}
	<-done
	if err != nil || res.Sent != 3 {
		t.Errorf("send to node --seconds 1e10: %v, sent %d failed %d %v: the node had already stopped (its stopped line: %v)",
			err, res.Sent, res.Failed, res.Errors, stopped)
	}
}

// The same overflow in send put its --seconds stop time in the past, so it sent nothing and
// still exited 0 with a summary of 0 sent, 0 failed. A usage error would be right too.
func TestSendHugeSecondsSendsTheCount(t *testing.T) {
	target := startNode(t, "--quiet")
	var out, errOut bytes.Buffer
	err := runSend(context.Background(), []string{"--port", "0", "--static", target, "--count", "5", "--size", "10",
		"--options", "use_ack,sync", "--seconds", "1e10"}, &out, &errOut)
	if errors.Is(err, errUsage) {
		return
	}
	var res sendResult
	if jerr := json.Unmarshal(out.Bytes(), &res); jerr != nil {
		t.Fatalf("send: %v; output %q, stderr %q", err, out.String(), errOut.String())
	}
	if err != nil || res.Sent != 5 || res.Failed != 0 {
		t.Fatalf("send --count 5 --seconds 1e10: err %v, sent %d, failed %d; want all 5 sent (or a usage error)", err, res.Sent, res.Failed)
	}
}

// secondsLimit: 0, a limit beyond a time.Duration and +Inf are no limit; negative and NaN
// are usage errors naming --seconds.
func TestSecondsLimit(t *testing.T) {
	for _, c := range []struct {
		s    float64
		want time.Duration
	}{{0, 0}, {1.5, 1500 * time.Millisecond}, {9.2e9, 9.2e9 * time.Second}, {1e10, 0}, {math.MaxFloat64, 0}, {math.Inf(1), 0}} {
		if got, err := secondsLimit(c.s); err != nil || got != c.want {
			t.Errorf("secondsLimit(%v) = %v, %v; want %v", c.s, got, err, c.want)
		}
	}
	for _, s := range []float64{-1, math.Inf(-1), math.NaN()} {
		if _, err := secondsLimit(s); !errors.Is(err, errUsage) || !strings.Contains(err.Error(), "--seconds") {
			t.Errorf("secondsLimit(%v): %v; want a --seconds usage error", s, err)
		}
	}
}
