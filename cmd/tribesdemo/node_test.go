package main

import (
	"context"
	"strings"
	"testing"

	"github.com/gotribes/tribes/channel"
)

// "node --echo --quiet" is the rtt peer of rtt's own usage example
// ("tribesdemo node ... --echo --quiet &") and of docs/operations.md. --quiet says "print no
// line per message"; with --echo the node must still echo, but print neither a "message" nor
// an "echoed" line per message (the JSON encoding and SHA-256 of every probe would also
// slow down the very round trips rtt measures).
func TestNodeEchoQuietPrintsNoLinePerMessage(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	lines, done := startCmd(t, ctx, "node", "--port", "0", "--echo", "--quiet", "--json", "--seconds", "60")
	target := memberArg(next(t, lines, "started"))

	// rtt in echo mode: each probe returns only once the node echoed it.
	res, err := runJSON[rttResult](t, runRTT, "--port", "0", "--static", target, "--mode", "echo",
		"--count", "5", "--warmup", "0", "--json")
	if err != nil || res.Answered != 5 {
		t.Fatalf("rtt against node --echo --quiet: %v %+v", err, res)
	}
	cancel()
	var perMessage []string
	for m := range lines {
		if ev, _ := m["event"].(string); ev == "message" || ev == "echoed" {
			perMessage = append(perMessage, ev)
		}
		if m["event"] == "stopped" {
			if m["received"].(float64) < 5 {
				t.Errorf("stopped line counts %v messages, want >= 5", m["received"])
			}
		}
	}
	if code := <-done; code != 0 {
		t.Errorf("node exit %d", code)
	}
	if len(perMessage) > 0 {
		t.Errorf("node --echo --quiet printed %d per-message lines (%v...), want none", len(perMessage), perMessage[:min(4, len(perMessage))])
	}
}

// With no line per echo (--quiet), failed echoes are counted in the stopped line, JSON and
// text, and left out while there are none.
func TestStoppedLineCountsFailedEchoes(t *testing.T) {
	for _, asJSON := range []bool{true, false} {
		for _, failed := range []int64{0, 3} {
			var b strings.Builder
			var c nodeCounts
			c.echoFailed.Store(failed)
			(&nodePrinter{w: newLineWriter(&b), raw: &b, json: asJSON}).stopped(&c)
			has := strings.Contains(b.String(), `"echoFailed":3`) || strings.Contains(b.String(), "3 echoes failed")
			if has != (failed > 0) || strings.Contains(b.String(), "echoFailed\":0") || strings.Contains(b.String(), "0 echoes") {
				t.Errorf("json %v, %d failed echoes: stopped line %q", asJSON, failed, b.String())
			}
		}
	}
}

// The started line gives the node's id as Tomcat's uniqueId text too, beside the hex, so
// that a Tomcat user copies it into every Tomcat node's <Member uniqueId="..."> as it is
// (text and JSON).
func TestStartedLineGivesTomcatID(t *testing.T) {
	m := channel.Member{Host: []byte{127, 0, 0, 1}, Port: 4101, UniqueID: channel.UniqueID{0xc0, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10}}
	const want = "{-64,10,10,10,10,10,10,10,10,10,10,10,10,10,10,10}"
	for _, asJSON := range []bool{false, true} {
		var b strings.Builder
		(&nodePrinter{w: newLineWriter(&b), raw: &b, json: asJSON}).started(m, false)
		got := b.String()
		if !strings.Contains(got, "c00a0a0a0a0a0a0a0a0a0a0a0a0a0a0a") ||
			(!asJSON && !strings.Contains(got, `uniqueId="`+want+`"`)) || (asJSON && !strings.Contains(got, `"tomcatId":"`+want+`"`)) {
			t.Errorf("json %v: started line %q does not give the id as %s", asJSON, got, want)
		}
	}
}
