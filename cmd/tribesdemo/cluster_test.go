package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// An interrupted cluster demo (Ctrl-C while the nodes are joining; here a context that has
// already ended) says it was interrupted, not "the nodes did not see each other within
// 5 s" (which waitFor's end by ctx was once reported as: at once and untrue).
func TestClusterInterruptedSaysSo(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out, errOut bytes.Buffer
	code := run(ctx, []string{"cluster", "--crash=false", "--messages", "1"}, &out, &errOut)
	if code == 0 || strings.Contains(errOut.String(), "did not see each other") ||
		!strings.Contains(errOut.String(), context.Canceled.Error()) && !strings.Contains(errOut.String(), "interrupted") {
		t.Errorf("cluster on an ended context: exit %d, stderr %q; want a failure that names the interruption (%q), "+
			"not a membership failure", code, errOut.String(), context.Canceled)
	}
}

// "cluster --seconds 0" is no limit, as in every other command (it ran on a context that
// had already expired and failed with a false "did not see each other within 5 s").
func TestClusterZeroSecondsIsNoLimit(t *testing.T) {
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"cluster", "--crash=false", "--messages", "1", "--seconds", "0"}, &out, &errOut)
	if code != 0 {
		t.Errorf("cluster --seconds 0: exit %d, stderr %q; want a run without a limit (0)", code, errOut.String())
	}
}
