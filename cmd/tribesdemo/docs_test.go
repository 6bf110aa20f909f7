package main

import (
	"flag"
	"io"
	"os"
	"strings"
	"testing"
)

// docs/operations.md must not say that tribesdemo lacks nio.Config settings it has (it
// once did, twice): every command that runs a node has --advertise
// (Config.AdvertiseAddress, the very flag "node --bind 0.0.0.0" needs), and beside
// --ack-timeout it exposes --workers, --pool-size, --max-retries, --max-frame-size,
// --keepalive-count and --keepalive-time of the "Sizing a node" table.
func TestOperationsDocKnowsTheNodeFlags(t *testing.T) {
	doc, err := os.ReadFile("../../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Join(strings.Fields(string(doc)), " ") // sentences wrap across lines
	fs := flag.NewFlagSet("node", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var nf nodeFlags
	nf.register(fs, 0)
	for _, c := range []struct {
		claim string
		flags []string
	}{
		{"`Config.AdvertiseAddress` (Go API; `tribesdemo` has no flag for it)", []string{"advertise"}},
		{"(Go API; `tribesdemo` exposes only `--ack-timeout`)", []string{"workers", "pool-size", "max-retries", "max-frame-size", "keepalive-count", "keepalive-time"}},
	} {
		if !strings.Contains(text, c.claim) {
			continue
		}
		var have []string
		for _, f := range c.flags {
			if fs.Lookup(f) != nil {
				have = append(have, "--"+f)
			}
		}
		if len(have) > 0 {
			t.Errorf("docs/operations.md says %q, but tribesdemo's node flags include %s", c.claim, strings.Join(have, ", "))
		}
	}
}
