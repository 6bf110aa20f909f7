package main

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
)

// TestVerboseLogsInfo: docs/operations.md (Logs) says `tribesdemo -v` shows Info on
// stderr, and without it only warnings and errors. A node run for a moment logs its
// lifecycle ("tribes channel started") at Info with -v; without -v its stderr has no Info
// or Debug line.
func TestVerboseLogsInfo(t *testing.T) {
	for _, verbose := range []bool{true, false} {
		args := []string{"node", "--port", "0", "--quiet", "--seconds", "0.1"}
		if verbose {
			args = append(args, "-v")
		}
		var stderr bytes.Buffer
		if code := run(context.Background(), args, io.Discard, &stderr); code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, stderr.String())
		}
		log := stderr.String()
		started := strings.Contains(log, "level=INFO") && strings.Contains(log, "tribes channel started")
		switch {
		case verbose && !started:
			t.Errorf("-v: no Info line of the channel's start on stderr:\n%s", log)
		case !verbose && (strings.Contains(log, "level=INFO") || strings.Contains(log, "level=DEBUG")):
			t.Errorf("without -v: Info or Debug lines on stderr:\n%s", log)
		}
	}
}
