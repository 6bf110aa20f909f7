// Package testutil holds what the project's tests share: the part of testing.TB that
// helpers use, and bounded waits for a condition.
//
// It does not import testing, so that helpers outside _test.go files (internal/javapeer,
// internal/netbench) can take a TB too; *testing.T, *testing.B and *testing.F satisfy it.
package testutil

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gotribes/tribes/internal/freeport"
)

// TB is the part of testing.TB that test helpers use.
type TB interface {
	Helper()
	Cleanup(func())
	Failed() bool
	Logf(format string, args ...any)
	Fatalf(format string, args ...any)
	Skipf(format string, args ...any)
}

// WaitLimit bounds waits for things that happen within milliseconds on an idle machine; it
// is reached only when something is broken, or the machine badly overloaded.
const WaitLimit = 10 * time.Second

// Poll calls cond until it returns nil or ctx ends, backing off from 1 ms to 20 ms between
// calls. It returns nil, or ctx's error joined with cond's last error.
func Poll(ctx context.Context, cond func() error) error {
	wait := time.Millisecond
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		err := cond()
		if err == nil {
			return nil
		}
		t.Reset(wait)
		select {
		case <-ctx.Done():
			return errors.Join(ctx.Err(), err)
		case <-t.C:
		}
		wait = min(2*wait, 20*time.Millisecond)
	}
}

// Eventually waits up to timeout for cond to return nil, and fails t with cond's last error
// otherwise.
func Eventually(t TB, timeout time.Duration, cond func() error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := Poll(ctx, cond); err != nil {
		t.Fatalf("not within %v: %v", timeout, lastError(err))
	}
}

// EventuallyTrue waits up to timeout for cond to hold, and fails t naming what otherwise.
func EventuallyTrue(t TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	Eventually(t, timeout, func() error {
		if cond() {
			return nil
		}
		return fmt.Errorf("%s", what)
	})
}

// lastError drops the context's own error from what Poll returns.
func lastError(err error) error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		if errs := j.Unwrap(); len(errs) == 2 {
			return errs[1]
		}
	}
	return err
}

// FreePorts returns n distinct TCP ports on 127.0.0.1 that were free a moment ago, for
// servers of other processes that bind them soon after: they are outside the kernel's
// range for outgoing connections, and reserved against other test processes until t's
// cleanup (internal/freeport).
func FreePorts(t TB, n int) []int {
	t.Helper()
	return freePorts(t, n, freeport.TCP)
}

// FreePortsUDP is FreePorts for UDP.
func FreePortsUDP(t TB, n int) []int {
	t.Helper()
	return freePorts(t, n, freeport.UDP)
}

func freePorts(t TB, n int, nw freeport.Network) []int {
	t.Helper()
	ports, release, err := freeport.Pick(n, nw)
	if err != nil {
		t.Fatalf("testutil: free ports: %v", err)
	}
	t.Cleanup(release)
	return ports
}
