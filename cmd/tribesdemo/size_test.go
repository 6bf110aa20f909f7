package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// runRecovering runs a command as main does and reports a panic instead of crashing.
func runRecovering(args ...string) (code int, stdout, stderr string, panicked any) {
	var out, errOut bytes.Buffer
	func() {
		defer func() { panicked = recover() }()
		code = run(context.Background(), args, &out, &errOut)
	}()
	return code, out.String(), errOut.String(), panicked
}

// A --size no message can have (here 1 PiB, beyond what Go can allocate, let alone frame)
// is a bad flag value: a usage error (exit 2) that says what is wrong, never a panic (send,
// load and rtt started their node and then panicked in make([]byte, size), "makeslice: len
// out of range"; cluster started three nodes and panicked in strings.Repeat).
func TestHugeSizeIsUsageError(t *testing.T) {
	const huge = "1125899906842624" // 1 PiB
	// A member that is never reached: the commands must refuse the size before sending.
	const member = "127.0.0.1:1:000102030405060708090a0b0c0d0e0f"
	for _, args := range [][]string{
		{"send", "--port", "0", "--static", member, "--count", "1", "--size", huge},
		{"load", "--port", "0", "--static", member, "--count", "1", "--size", huge, "--json"},
		{"rtt", "--port", "0", "--static", member, "--count", "1", "--warmup", "0", "--size", huge, "--json"},
		{"cluster", "--crash=false", "--messages", "1", "--size", huge},
	} {
		code, stdout, stderr, panicked := runRecovering(args...)
		if panicked != nil {
			t.Errorf("%s --size %s panicked: %v", args[0], huge, panicked)
			continue
		}
		hint := fmt.Sprintf("Run 'tribesdemo %s -h' for its usage.", args[0])
		if code != 2 || !strings.Contains(stderr, "--size") || !strings.Contains(stderr, hint) {
			t.Errorf("%s --size %s: exit %d, stderr %q, stdout %q; want exit 2 and a --size usage error", args[0], huge, code, stderr, stdout)
		}
	}
}

// The bound is the largest message one frame carries: --max-frame-size raises it, and an
// --interceptors stack (which may cut or compress messages) lifts it to the wire's message
// length. pingpong, which frames its messages itself, has the default bound.
func TestSizeBoundFollowsTheFrame(t *testing.T) {
	const header = 117 // ChannelData of a 16-byte id and an IPv4 member without domain or payload
	for _, c := range []struct {
		nf   nodeFlags
		size int
		ok   bool
	}{
		{nodeFlags{}, 16<<20 - header, true},
		{nodeFlags{}, 16<<20 - header + 1, false},
		{nodeFlags{maxFrameSize: 32 << 20}, 32<<20 - header, true},
		{nodeFlags{maxFrameSize: 32 << 20}, 32<<20 - header + 1, false},
		{nodeFlags{interceptors: "fragmentation"}, 64 << 20, true},
		{nodeFlags{interceptors: "fragmentation"}, 1 << 50, false},
	} {
		err := c.nf.checkSize(c.size)
		if (err == nil) != c.ok || err != nil && (!errors.Is(err, errUsage) || !strings.Contains(err.Error(), "--size")) {
			t.Errorf("--max-frame-size %d --interceptors %q --size %d: %v; want ok %v", c.nf.maxFrameSize, c.nf.interceptors, c.size, err, c.ok)
		}
	}
	if code, _, stderr, panicked := runRecovering("pingpong", "--to", "127.0.0.1:1:000102030405060708090a0b0c0d0e0f", "--size", "1125899906842624"); panicked != nil || code != 2 || !strings.Contains(stderr, "--size") {
		t.Errorf("pingpong --size 1 PiB: exit %d, stderr %q, panic %v; want a --size usage error", code, stderr, panicked)
	}
}
