package netbench

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gotribes/tribes/internal/testutil"
)

// Member is a member as a node prints it (tribesdemo node or the Java peer).
type Member struct {
	Host    string `json:"host"`
	Port    int    `json:"port"`
	ID      string `json:"id"`
	Domain  string `json:"domain"`
	Payload string `json:"payload"`
	Command string `json:"command"` // hex
}

// Shutdown reports whether the member carries the BABY-ALEX command.
func (m Member) Shutdown() bool { return m.Command == "424142592d414c4558" }

// Event is one JSON line of a node, with the time it was read.
type Event struct {
	// Kind is normalised: "added", "gone", "started", "message", "stopped", or the raw
	// event name for anything else.
	Kind   string
	Member Member // added, gone, started
	At     time.Time
	Line   string
	Raw    map[string]any
}

// Proc is a node running as a child process, printing JSON lines: `tribesdemo node` or
// the Java peer's `node`. Events are kept in order; the view (members added and not gone)
// is tracked from them.
type Proc struct {
	Name string

	cmd    *exec.Cmd
	stdin  io.WriteCloser
	quit   bool // graceful stop is "quit" on stdin (Java peer), else SIGTERM
	stderr *tail

	mu      sync.Mutex
	events  []Event
	view    map[string]Member // by id
	self    Member
	changed chan struct{}
	done    chan struct{}
	exitErr error
}

// ProcOptions configure StartProc.
type ProcOptions struct {
	// QuitOnStdin makes Shutdown write "quit" to stdin instead of sending SIGTERM.
	QuitOnStdin bool
}

// StartProc runs argv (program first) and reads its JSON lines. The process is killed
// (by its PID) and reaped at the end of the test.
func StartProc(t testutil.TB, name string, opts ProcOptions, argv ...string) *Proc {
	t.Helper()
	p := &Proc{Name: name, quit: opts.QuitOnStdin, stderr: &tail{max: 32 << 10},
		view: map[string]Member{}, changed: make(chan struct{}), done: make(chan struct{})}
	p.cmd = exec.Command(argv[0], argv[1:]...)
	p.cmd.Stderr = p.stderr
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatalf("%v", err)
	}
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		t.Fatalf("%v", err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("netbench: start %s: %v", name, err)
	}
	go p.read(out)
	t.Cleanup(func() {
		p.Kill()
		if t.Failed() {
			t.Logf("%s (pid %d) stderr:\n%s", name, p.Pid(), p.stderr.String())
		}
	})
	return p
}

func (p *Proc) read(r io.Reader) {
	defer func() {
		err := p.cmd.Wait()
		p.mu.Lock()
		p.exitErr = err
		p.mu.Unlock()
		close(p.done)
		p.notify()
	}()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		line := sc.Text()
		var raw map[string]any
		if json.Unmarshal([]byte(line), &raw) != nil {
			continue
		}
		ev := Event{At: time.Now(), Line: line, Raw: raw}
		name, _ := raw["event"].(string)
		var m Member
		if mm, ok := raw["member"]; ok {
			b, _ := json.Marshal(mm)
			_ = json.Unmarshal(b, &m)
		}
		switch name {
		case "member-added", "memberAdded":
			ev.Kind, ev.Member = "added", m
		case "member-disappeared", "memberDisappeared":
			ev.Kind, ev.Member = "gone", m
		case "started":
			if m.ID == "" { // the Java peer prints host/port/id at the top level
				_ = json.Unmarshal([]byte(line), &m)
			}
			ev.Kind, ev.Member = "started", m
		default:
			ev.Kind = name
		}
		p.mu.Lock()
		p.events = append(p.events, ev)
		switch ev.Kind {
		case "added":
			p.view[m.ID] = m
		case "gone":
			delete(p.view, m.ID)
		case "started":
			p.self = m
		}
		p.mu.Unlock()
		p.notify()
	}
	_, _ = io.Copy(io.Discard, r)
}

func (p *Proc) notify() {
	p.mu.Lock()
	close(p.changed)
	p.changed = make(chan struct{})
	p.mu.Unlock()
}

// Pid is the process id (of the node itself: `ip netns exec` execs it).
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Self is the node's own member, once it printed "started".
func (p *Proc) Self() Member {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.self
}

// View returns the ids of the members the node currently lists, sorted.
func (p *Proc) View() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	ids := make([]string, 0, len(p.view))
	for id := range p.view {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// Has reports whether the node lists the member with this id.
func (p *Proc) Has(id string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, ok := p.view[id]
	return ok
}

// Member returns the member with this id from the node's view.
func (p *Proc) Member(id string) (Member, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	m, ok := p.view[id]
	return m, ok
}

// Events returns the events so far.
func (p *Proc) Events() []Event {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.events)
}

// EventsSince returns the events read at or after t.
func (p *Proc) EventsSince(t time.Time) []Event {
	var out []Event
	for _, e := range p.Events() {
		if !e.At.Before(t) {
			out = append(out, e)
		}
	}
	return out
}

// WaitFor waits until cond holds (checked after every event and every 10 ms) or
// timeout; it reports whether cond held.
func (p *Proc) WaitFor(timeout time.Duration, cond func() bool) bool {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		if cond() {
			return true
		}
		p.mu.Lock()
		ch := p.changed
		p.mu.Unlock()
		select {
		case <-ch:
		case <-time.After(10 * time.Millisecond):
		case <-deadline.C:
			return cond()
		}
	}
}

// Started waits for the "started" line.
func (p *Proc) Started(t testutil.TB, timeout time.Duration) Member {
	t.Helper()
	if !p.WaitFor(timeout, func() bool { return p.Self().ID != "" }) {
		t.Fatalf("%s did not start within %v; stderr:\n%s", p.Name, timeout, p.stderr.String())
	}
	return p.Self()
}

// Exited is closed when the process has exited.
func (p *Proc) Exited() <-chan struct{} { return p.done }

func (p *Proc) signal(s syscall.Signal) error {
	select {
	case <-p.done:
		return fmt.Errorf("netbench: %s already exited", p.Name)
	default:
	}
	return p.cmd.Process.Signal(s)
}

// Kill sends SIGKILL (by PID) and waits until the process is reaped. Idempotent.
func (p *Proc) Kill() {
	_ = p.signal(syscall.SIGKILL)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
	}
}

// Shutdown stops the node gracefully (SIGTERM, or "quit" for the Java peer) and waits up to
// timeout for it to exit, then kills it.
func (p *Proc) Shutdown(timeout time.Duration) {
	if p.quit {
		_, _ = io.WriteString(p.stdin, "quit\n")
	} else {
		_ = p.signal(syscall.SIGTERM)
	}
	select {
	case <-p.done:
	case <-time.After(timeout):
		p.Kill()
	}
}

// Command writes one line to the process's stdin (Java peer commands).
func (p *Proc) Command(line string) error {
	_, err := io.WriteString(p.stdin, line+"\n")
	return err
}

// Stderr returns the end of the process's stderr.
func (p *Proc) Stderr() string { return p.stderr.String() }

// tail keeps the last max bytes written.
type tail struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if over := len(t.b) - t.max; over > 0 {
		t.b = t.b[over:]
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.ToValidUTF8(string(t.b), "?")
}

// run runs a command to completion with a time limit and returns its combined output.
func run(argv ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s: %w: %s", strings.Join(argv, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}
