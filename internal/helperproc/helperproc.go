// Package helperproc runs a test binary again as a helper process, so that a benchmark or
// test measures the memory and CPU of each node on its own: the parent starts the binary
// with -test.run selecting one test function (which does the helper's work when an
// environment variable tells it to), writes command lines to its stdin, and reads the
// helper's reports, one JSON object per line on its stdout, each with an "event" field
// that names it. The helper ends when its stdin closes.
//
// The state transfer benchmarks of session/delta and interop/tomcat (and the latter's
// TestStateTransfer) run their Go nodes this way.
package helperproc

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"time"
)

// TB is the part of testing.TB this package uses.
type TB interface {
	Helper()
	Cleanup(func())
	Fatalf(format string, args ...any)
}

// Config says which helper to start.
type Config struct {
	// Test is the name of the test function that is the helper; the binary runs it alone
	// (-test.run=^Test$).
	Test string
	// Env is added to this process's environment: what makes Test act as a helper, and
	// what it needs.
	Env []string
	// Name prefixes the helper's stdout lines that are not reports, copied to stderr, and
	// the failures of Expect (default: the helper's pid).
	Name string
	// MaxLine is the longest report read, in bytes (default bufio.MaxScanTokenSize, 64 KiB).
	MaxLine int
}

// Proc is a running helper whose reports are of type R: a struct decoded from each JSON
// line, with the line's "event" field (the field tagged `json:"event"`).
type Proc[R any] struct {
	cmd   *exec.Cmd
	name  string
	stdin io.WriteCloser
	lines chan report[R]
	done  chan struct{}
}

type report[R any] struct {
	event string
	r     R
}

// Start starts the helper; t's cleanup stops it.
func Start[R any](t TB, cfg Config) *Proc[R] {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatalf("%v", err)
	}
	p := &Proc[R]{lines: make(chan report[R], 16), done: make(chan struct{})}
	p.cmd = exec.Command(exe, "-test.run=^"+cfg.Test+"$", "-test.count=1")
	p.cmd.Env = append(os.Environ(), cfg.Env...)
	p.cmd.Stderr = os.Stderr
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatalf("%v", err)
	}
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		t.Fatalf("%v", err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("%v", err)
	}
	p.name = cfg.Name
	if p.name == "" {
		p.name = fmt.Sprintf("helper %d", p.cmd.Process.Pid)
	}
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(stdout)
		if cfg.MaxLine > 0 {
			sc.Buffer(nil, cfg.MaxLine)
		}
		for sc.Scan() {
			var head struct {
				Event string `json:"event"`
			}
			var r R
			if json.Unmarshal(sc.Bytes(), &head) == nil && head.Event != "" && json.Unmarshal(sc.Bytes(), &r) == nil {
				p.lines <- report[R]{event: head.Event, r: r}
			} else {
				fmt.Fprintf(os.Stderr, "%s: %s\n", p.name, sc.Bytes())
			}
		}
		_ = p.cmd.Wait()
	}()
	t.Cleanup(p.Stop)
	return p
}

// Pid is the helper's process id.
func (p *Proc[R]) Pid() int { return p.cmd.Process.Pid }

// Expect waits up to timeout for the helper's next report, which must be of kind event.
func (p *Proc[R]) Expect(t TB, event string, timeout time.Duration) R {
	t.Helper()
	select {
	case l := <-p.lines:
		if l.event != event {
			t.Fatalf("%s: got %+v, want %q", p.name, l.r, event)
		}
		return l.r
	case <-p.done:
		t.Fatalf("%s exited while waiting for %q", p.name, event)
	case <-time.After(timeout):
		t.Fatalf("%s: no %q within %v", p.name, event, timeout)
	}
	var zero R
	return zero
}

// Send writes line to the helper's stdin.
func (p *Proc[R]) Send(t TB, line string) {
	t.Helper()
	if _, err := io.WriteString(p.stdin, line+"\n"); err != nil {
		t.Fatalf("%v", err)
	}
}

// Stop closes the helper's stdin, waits up to 10 s for it to exit, then kills it (by
// pid). Stopping a stopped helper does nothing.
func (p *Proc[R]) Stop() {
	_ = p.stdin.Close()
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// Report prints v, a report with its "event" field set, as one JSON line on stdout: what
// a helper sends its parent.
func Report(v any) error {
	return json.NewEncoder(os.Stdout).Encode(v)
}

// Commands reads the parent's command lines, one per Scan, until the parent closes stdin.
func Commands() *bufio.Scanner {
	return bufio.NewScanner(os.Stdin)
}
