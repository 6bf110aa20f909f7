package javapeer

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gotribes/tribes/internal/testutil"
)

const (
	// StartTimeout bounds the wait for the "started" event.
	StartTimeout = 30 * time.Second
	// StopTimeout bounds a graceful stop before the process is killed.
	StopTimeout = 15 * time.Second

	stderrTail     = 64 << 10
	maxQueued      = 1 << 20
	maxLine        = 16 << 20
	replyQueueSize = 4
)

// ErrExited is returned (wrapped) when the peer process has exited.
var ErrExited = errors.New("javapeer: java peer exited")

// From is the sender member of a received message, as Tribes parsed it from
// the ChannelData address.
type From struct {
	Host       string `json:"host"`
	Port       int    `json:"port"`
	ID         string `json:"id"`      // 32 lowercase hex digits
	Domain     string `json:"domain"`  // ISO-8859-1 decoded
	Payload    string `json:"payload"` // hex
	Alive      int64  `json:"alive"`   // member alive time as sent
	SecurePort int    `json:"securePort"`
	UDPPort    int    `json:"udpPort"`
	Command    string `json:"command"` // hex
}

// Member returns "host:port:idhex".
func (f *From) Member() string { return fmt.Sprintf("%s:%d:%s", f.Host, f.Port, f.ID) }

// Peer is a running "node" Java process.
type Peer struct {
	Host string
	Port int
	ID   [16]byte

	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stderr *tailBuffer
	args   []string

	mu      sync.Mutex
	events  []Event
	dropped int
	notify  chan struct{} // closed and replaced whenever events or state change
	exited  bool
	exitErr error
	pending map[int64]chan Event
	nextCmd int64

	stdinMu  sync.Mutex
	done     chan struct{} // closed after the process was waited for and stdout drained
	stopOnce sync.Once
}

// Start runs `TribesPeer node` with args (e.g. "--throw-prefix", "THROW"),
// waits (at most 30 s) for its "started" event and registers t.Cleanup to
// stop it (quit, then kill by PID) and wait for it. Without --bind/--port in
// args it binds 127.0.0.1 on a free port. Start skips t when Java is missing.
func Start(t testutil.TB, args ...string) *Peer {
	t.Helper()
	return StartWith(t, Options{}, args...)
}

// Options are process settings for StartWith.
type Options struct {
	// Env is added to the peer's environment ("KEY=value"), e.g. the KUBERNETES_*
	// variables of --cloud-membership.
	Env []string
	// JVMArgs are added to the JVM's options, e.g. -Djdk.net.hosts.file=FILE.
	JVMArgs []string
}

// StartWith is Start with process options.
func StartWith(t testutil.TB, o Options, args ...string) *Peer {
	t.Helper()
	Skip(t)
	ctx, cancel := context.WithTimeout(context.Background(), StartTimeout)
	defer cancel()
	p, err := startOpts(ctx, "node", o, args...)
	if p != nil {
		t.Cleanup(func() {
			p.Stop()
			if t.Failed() {
				t.Logf("java peer %s (pid %d, args %q) stderr:\n%s", p.Member(), p.Pid(), p.args, p.Stderr())
			}
		})
	}
	if err != nil {
		t.Fatalf("javapeer.StartWith: %v", err)
	}
	return p
}

// StartNode is Start without testutil.TB: the caller must Stop the peer. On
// error the returned *Peer (if not nil) is already stopped but can still be
// asked for its stderr.
func StartNode(ctx context.Context, args ...string) (*Peer, error) {
	return start(ctx, "node", args...)
}

// StartPingPongServer runs `TribesPeer pingpong-serve` (RawPingPong.java: a plain
// java.net.ServerSocket answering every Tribes frame with an ACK frame) like StartNode; its
// Member is the address for RunRawPingPong. The caller must Stop it.
func StartPingPongServer(ctx context.Context, args ...string) (*Peer, error) {
	return start(ctx, "pingpong-serve", args...)
}

// start runs the TribesPeer subcommand sub, which prints a "started" event.
func start(ctx context.Context, sub string, args ...string) (*Peer, error) {
	return startOpts(ctx, sub, Options{}, args...)
}

func startOpts(ctx context.Context, sub string, o Options, args ...string) (*Peer, error) {
	cp, err := Build()
	if err != nil {
		return nil, err
	}
	args = withDefaults(args)
	cmdArgs := append(slices.Clone(o.JVMArgs), javaArgs(cp)...)
	cmdArgs = append(cmdArgs, sub)
	cmdArgs = append(cmdArgs, args...)
	cmd := exec.Command("java", cmdArgs...)
	if len(o.Env) > 0 {
		cmd.Env = append(os.Environ(), o.Env...)
	}
	p := &Peer{
		cmd:     cmd,
		stderr:  newTailBuffer(stderrTail),
		args:    args,
		notify:  make(chan struct{}),
		pending: make(map[int64]chan Event),
		done:    make(chan struct{}),
	}
	cmd.Stderr = p.stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if p.stdin, err = cmd.StdinPipe(); err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("javapeer: starting java: %w", err)
	}
	go p.readLoop(stdout)

	ev, err := p.WaitFor(ctx, func(e Event) bool { return e.Event == "started" || e.Event == "fatal" })
	if err == nil && ev.Event == "fatal" {
		err = fmt.Errorf("java peer failed to start: %s", ev.Cause)
	}
	if err == nil {
		p.Host, p.Port = ev.Host, ev.Port
		var id []byte
		if id, err = hex.DecodeString(ev.ID); err == nil && len(id) != 16 {
			err = fmt.Errorf("bad id %q in started event", ev.ID)
		}
		copy(p.ID[:], id)
	}
	if err != nil {
		p.Stop()
		return p, fmt.Errorf("javapeer: waiting for started: %w\nstderr:\n%s", err, p.Stderr())
	}
	return p, nil
}

func withDefaults(args []string) []string {
	has := func(name string) bool {
		for _, a := range args {
			if a == name || strings.HasPrefix(a, name+"=") {
				return true
			}
		}
		return false
	}
	out := slices.Clone(args)
	if !has("--bind") {
		out = append(out, "--bind", "127.0.0.1")
	}
	if !has("--port") {
		out = append(out, "--port", "0")
	}
	return out
}

func (p *Peer) debugState() string {
	pend := p.Pending()
	var b strings.Builder
	fmt.Fprintf(&b, "%d queued events", len(pend))
	if len(pend) > 0 {
		b.WriteString(" (last ones):")
		for _, e := range pend[max(0, len(pend)-5):] {
			b.WriteString("\n  ")
			b.WriteString(e.Line)
		}
	}
	fmt.Fprintf(&b, "\njava stderr:\n%s", p.Stderr())
	return b.String()
}

func (p *Peer) exitError() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.exitErr != nil {
		return fmt.Errorf("%w: %v", ErrExited, p.exitErr)
	}
	return ErrExited
}

// Member returns "host:port:idhex" (the --static style member string).
func (p *Peer) Member() string {
	return p.Host + ":" + strconv.Itoa(p.Port) + ":" + hex.EncodeToString(p.ID[:])
}

// Addr returns "host:port".
func (p *Peer) Addr() string { return p.Host + ":" + strconv.Itoa(p.Port) }

// IDHex returns the 32 lowercase hex digits of the peer's uniqueId.
func (p *Peer) IDHex() string { return hex.EncodeToString(p.ID[:]) }

// Pid returns the JVM's process id.
func (p *Peer) Pid() int {
	if p.cmd == nil || p.cmd.Process == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// Stderr returns the last 64 KiB of the JVM's stderr.
func (p *Peer) Stderr() string { return p.stderr.String() }

// Exited is closed once the process has exited and its output is drained.
func (p *Peer) Exited() <-chan struct{} { return p.done }

// ExitErr returns the error from waiting for the process (nil for exit 0, or
// if it is still running).
func (p *Peer) ExitErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.exitErr
}

// Kill sends SIGKILL to the JVM (by its PID only) and waits for it to be
// reaped. Use it to simulate a crash.
func (p *Peer) Kill() {
	if p.cmd != nil && p.cmd.Process != nil {
		_ = p.cmd.Process.Kill()
	}
	p.stopOnce.Do(func() { p.finish(false) })
}

// Stop asks the peer to quit (closing the channel), waits up to 15 s, then
// kills it by PID, and waits until it is reaped. Idempotent.
func (p *Peer) Stop() {
	p.stopOnce.Do(func() { p.finish(true) })
}

func (p *Peer) finish(graceful bool) {
	if graceful {
		_ = p.writeLine("quit")
	}
	p.stdinMu.Lock()
	_ = p.stdin.Close()
	p.stdinMu.Unlock()
	t := time.NewTimer(StopTimeout)
	defer t.Stop()
	select {
	case <-p.done:
		return
	case <-t.C:
	}
	_ = p.cmd.Process.Kill()
	t.Reset(StopTimeout)
	select {
	case <-p.done:
	case <-t.C:
		// The process is gone after SIGKILL; this only happens if something
		// else holds its stdout open. Give up rather than hang.
		fmt.Fprintf(p.stderr, "javapeer: pid %d not reaped after kill\n", p.Pid())
	}
}
