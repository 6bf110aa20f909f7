// Package testenv decides what a test does when something it needs from the machine is
// missing: Java and the Tribes jars, Tomcat, network namespaces, tmux, Chromium.
//
// On a developer's machine such a test skips with the reason, so `go test ./...` runs
// without them. scripts/test.sh (and so CI) sets GOTRIBES_NO_SKIP=1, which turns every
// such skip into a failure: a machine that is supposed to have everything cannot hide a
// missing dependency behind a skipped test.
//
// Skips that are a choice rather than a missing dependency (-short, an opt-in benchmark)
// do not go through this package.
package testenv

import "os"

// NoSkipEnv is the environment variable that turns Missing into a failure when it is set
// to anything but "" or "0".
const NoSkipEnv = "GOTRIBES_NO_SKIP"

// TB is the part of testing.TB this package uses.
type TB interface {
	Helper()
	Skipf(format string, args ...any)
	Fatalf(format string, args ...any)
}

// Strict reports whether missing dependencies fail tests instead of skipping them.
func Strict() bool {
	v := os.Getenv(NoSkipEnv)
	return v != "" && v != "0"
}

// Missing reports that what the test needs is not here: it skips t with the reason, or
// fails t when NoSkipEnv is set.
func Missing(t TB, format string, args ...any) {
	t.Helper()
	if Strict() {
		t.Fatalf(format+" ("+NoSkipEnv+" is set: a missing dependency is a failure)", args...)
		return
	}
	t.Skipf(format, args...)
}
