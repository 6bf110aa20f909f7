package tomcatinterop_test

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// stopWithin bounds each stop of a test's Go nodes, their HTTP servers and its load
// client: one that takes longer fails the test and is left running, so that a failed
// test ends (its other cleanups run) instead of holding the binary until its timeout.
// It is above the client's HTTP timeout (30 s), which bounds a worker's request.
const stopWithin = 60 * time.Second

// cleanupTB is the part of testing.TB that cleanupWithin uses.
type cleanupTB interface {
	Helper()
	Cleanup(func())
	Errorf(format string, args ...any)
}

// doneWithin runs f and waits up to d for it to return, reporting whether it did; an f
// still running then is left running.
func doneWithin(d time.Duration, f func()) bool {
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-done:
		return true
	case <-timer.C:
		return false
	}
}

// cleanupWithin registers f (what) as a cleanup of t that may take d: one still running
// then fails t and is left running, and the cleanups registered before it run.
func cleanupWithin(t cleanupTB, what string, d time.Duration, f func()) {
	t.Helper()
	t.Cleanup(func() {
		if !doneWithin(d, f) {
			t.Errorf("%s did not end within %v (left running)", what, d)
		}
	})
}

// recordingTB records cleanupWithin's cleanups and failures.
type recordingTB struct {
	cleanups []func()
	errs     []string
}

func (r *recordingTB) Helper()          {}
func (r *recordingTB) Cleanup(f func()) { r.cleanups = append(r.cleanups, f) }
func (r *recordingTB) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

// TestCleanupWithinEndsAStuckStop: a cleanup that never returns (a stop waiting for
// something that does not come) fails the test by its name and returns, so the test's
// other cleanups run and the binary goes on; one that returns fails nothing.
func TestCleanupWithinEndsAStuckStop(t *testing.T) {
	stuck := make(chan struct{})
	defer close(stuck) // lets the stuck cleanup's goroutine end with the test
	var rec recordingTB
	ran := false
	cleanupWithin(&rec, "quick stop", time.Minute, func() { ran = true })
	cleanupWithin(&rec, "stuck stop", time.Millisecond, func() { <-stuck })
	for i := len(rec.cleanups) - 1; i >= 0; i-- { // as the testing package does: last first
		rec.cleanups[i]()
	}
	if !ran {
		t.Error("the cleanup registered first did not run after the stuck one")
	}
	if len(rec.errs) != 1 || !strings.Contains(rec.errs[0], "stuck stop") {
		t.Fatalf("failures %q, want one for the stuck stop", rec.errs)
	}
}
