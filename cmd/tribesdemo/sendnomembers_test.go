package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// send without members says how to give them and exits non-zero. Without a membership
// flag it is a usage error (exit 2, nothing on stdout) found before the channel starts;
// with one that yields no member within --wait (here the list names only the node
// itself) it exits 1 after the summary. Both name --static and the multicast flags.
// Before, both printed a summary and then only "tribes: no destination members".
func TestSendWithoutMembersSaysHowToGiveThem(t *testing.T) {
	const id = "000102030405060708090a0b0c0d0e0f"
	for _, c := range []struct {
		name   string
		args   []string
		code   int
		stdout bool
	}{
		{"no membership flag", []string{"send", "--port", "0"}, 2, false},
		{"none within --wait", []string{"send", "--port", "0", "--id", id, "--static", "127.0.0.1:1:" + id, "--wait", "50ms"}, 1, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), c.args, &stdout, &stderr)
			msg := stderr.String()
			if code != c.code || !strings.Contains(msg, "no destination members") ||
				!strings.Contains(msg, "--static host:port:uniqueIdHex") || !strings.Contains(msg, "--mcast-addr with --mcast-bind") {
				t.Errorf("%q: exit %d, stderr %q; want exit %d and how to give members (--static host:port:uniqueIdHex, --mcast-addr with --mcast-bind)",
					c.args, code, msg, c.code)
			}
			if got := stdout.Len() > 0; got != c.stdout {
				t.Errorf("%q: stdout %q; want a summary: %t", c.args, stdout.String(), c.stdout)
			}
		})
	}
}
