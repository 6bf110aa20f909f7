package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestUsageSaysNodePrintsTextOnATerminal: the command list said that node prints "a JSON
// line" per event, but on a terminal it prints readable text (JSON lines only when its
// output is not a terminal, or with --json: TestTerminalDetection), so a newcomer who
// ran it in a terminal, as getting-started does, saw something else than announced; the
// list now says both.
func TestUsageSaysNodePrintsTextOnATerminal(t *testing.T) {
	var out bytes.Buffer
	run(context.Background(), nil, &out, &out)
	var line string
	for l := range strings.Lines(out.String()) {
		if strings.HasPrefix(l, "  node ") {
			line = l
		}
	}
	for _, want := range []string{"text on a terminal", "JSON lines otherwise", "--json"} {
		if !strings.Contains(line, want) {
			t.Errorf("the usage's node line %q does not say %q", line, want)
		}
	}
}
