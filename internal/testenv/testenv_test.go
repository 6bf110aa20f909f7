package testenv

import (
	"fmt"
	"testing"
)

// recorder is a TB that records what Missing did.
type recorder struct{ skipped, failed string }

func (r *recorder) Helper()                           {}
func (r *recorder) Skipf(format string, args ...any)  { r.skipped = fmt.Sprintf(format, args...) }
func (r *recorder) Fatalf(format string, args ...any) { r.failed = fmt.Sprintf(format, args...) }

func TestMissingSkipsOnADevelopersMachine(t *testing.T) {
	t.Setenv(NoSkipEnv, "")
	var r recorder
	Missing(&r, "no %s here", "java")
	if r.skipped != "no java here" || r.failed != "" {
		t.Fatalf("skipped %q, failed %q", r.skipped, r.failed)
	}
	t.Setenv(NoSkipEnv, "0")
	r = recorder{}
	Missing(&r, "no tmux")
	if r.skipped != "no tmux" || r.failed != "" {
		t.Fatalf("with %s=0: skipped %q, failed %q", NoSkipEnv, r.skipped, r.failed)
	}
}

func TestMissingFailsInCI(t *testing.T) {
	t.Setenv(NoSkipEnv, "1")
	var r recorder
	Missing(&r, "no %s here", "chromium")
	if r.skipped != "" || r.failed == "" {
		t.Fatalf("skipped %q, failed %q", r.skipped, r.failed)
	}
	if want := "no chromium here (" + NoSkipEnv + " is set"; len(r.failed) < len(want) || r.failed[:len(want)] != want {
		t.Fatalf("failure message %q does not start with %q", r.failed, want)
	}
}
