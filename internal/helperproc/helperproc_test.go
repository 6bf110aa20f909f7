package helperproc_test

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/gotribes/tribes/internal/helperproc"
)

const childEnv = "GOTRIBES_HELPERPROC_CHILD"

type echo struct {
	Event string `json:"event"`
	Line  string `json:"line,omitempty"`
}

// TestHelperProcess is not a test: it is the helper of TestStartExpectSend. It reports
// "ready", prints a line that is no report, then echoes each command until stdin closes.
func TestHelperProcess(t *testing.T) {
	if os.Getenv(childEnv) == "" {
		t.Skip("helper process of TestStartExpectSend")
	}
	_ = helperproc.Report(echo{Event: "ready"})
	fmt.Println("not a report")
	for cmds := helperproc.Commands(); cmds.Scan(); {
		_ = helperproc.Report(echo{Event: "echo", Line: cmds.Text()})
	}
	os.Exit(0)
}

// recorder is a TB that records a failure instead of ending the test.
type recorder struct {
	testing.TB
	failed string
}

func (r *recorder) Fatalf(format string, args ...any) { r.failed = fmt.Sprintf(format, args...) }

func TestStartExpectSend(t *testing.T) {
	p := helperproc.Start[echo](t, helperproc.Config{Test: "TestHelperProcess", Env: []string{childEnv + "=1"}, Name: "echo"})
	p.Expect(t, "ready", time.Minute)
	p.Send(t, "hello")
	if got := p.Expect(t, "echo", time.Minute); got.Line != "hello" {
		t.Errorf("echoed %q, want hello", got.Line)
	}
	p.Send(t, "again")
	r := &recorder{TB: t}
	p.Expect(r, "ready", time.Minute)
	if want := `echo: got {Event:echo Line:again}, want "ready"`; r.failed != want {
		t.Errorf("Expect of the wrong event: %q, want %q", r.failed, want)
	}
	p.Stop()
	r.failed = ""
	p.Expect(r, "echo", time.Minute)
	if want := `echo exited while waiting for "echo"`; r.failed != want {
		t.Errorf("Expect after Stop: %q, want %q", r.failed, want)
	}
}
