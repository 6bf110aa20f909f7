package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestMcastAddrNeedsMcastBind: a node with multicast membership and no interface is a
// usage error (exit status 2) naming --mcast-bind, whichever command runs the node:
// multicast is never sent on the default route (docs/operations.md).
func TestMcastAddrNeedsMcastBind(t *testing.T) {
	for _, cmd := range []string{"node", "sessions"} {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), []string{cmd, "--mcast-addr", "228.0.0.4", "--port", "0"}, &stdout, &stderr)
		if code != 2 || !strings.Contains(stderr.String(), "--mcast-bind") {
			t.Errorf("%s --mcast-addr without --mcast-bind: exit %d, stderr %q; want 2 naming --mcast-bind", cmd, code, stderr.String())
		}
	}
}
