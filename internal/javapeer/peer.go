package javapeer

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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

// Event is one JSON line printed by the peer.
//
// Kinds: "started" (Host, Port, ID), "message" (From, Size, SHA256, Options,
// MsgID, Timestamp, Data for messages of at most 64 bytes, Throw when the
// listener threw), "object" (a non-ByteMessage payload: From, Class, Options),
// "echoed" / "echoError" (To, ID, Size, SHA256, Millis / Cause), "stopped",
// "timeout", "fatal" (Cause), "memberAdded" / "memberDisappeared" (Member; with --mcast-addr or --static-membership). Replies to commands ("sendResult", "stats",
// "pong", "error") never show up as events.
type Event struct {
	Event     string `json:"event"`
	Host      string `json:"host"`
	Port      int    `json:"port"`
	ID        string `json:"id"`
	From      *From  `json:"from"`
	Member    *From  `json:"member"` // memberAdded / memberDisappeared
	Size      int    `json:"size"`
	SHA256    string `json:"sha256"`
	Options   int    `json:"options"`
	MsgID     string `json:"msgId"`
	Timestamp int64  `json:"timestamp"`
	Data      string `json:"data"`
	Throw     bool   `json:"throw"`
	To        string `json:"to"`
	Cause     string `json:"cause"`
	Millis    int64  `json:"millis"`
	Class     string `json:"class"`

	// Raw is the whole decoded JSON object.
	Raw map[string]any `json:"-"`
	// Line is the original JSON line.
	Line string `json:"-"`
}

// Bytes decodes Data (message content; only present for messages of at most
// 64 bytes).
func (e Event) Bytes() ([]byte, error) { return hex.DecodeString(e.Data) }

func (e Event) String() string { return e.Line }

// IsMessage matches "message" events.
func IsMessage(e Event) bool { return e.Event == "message" }

// MessageWithSHA returns a predicate matching "message" events with that SHA-256.
func MessageWithSHA(sha string) func(Event) bool {
	return func(e Event) bool { return e.Event == "message" && e.SHA256 == sha }
}

// SendErr is one failed destination of a send command.
type SendErr struct {
	Member string `json:"member"` // "host:port" of the FaultyMember ("" if none)
	Cause  string `json:"cause"`  // "<exception class>: <message>"
}

// SendResult is the answer to Peer.Send.
type SendResult struct {
	Sent      int       `json:"sent"`
	Failed    int       `json:"failed"`
	Errors    []SendErr `json:"errors"`
	SHA256    []string  `json:"sha256"` // per message, only if count <= 10
	MsgIDs    []string  `json:"msgIds"` // Tribes message ids, "" for failed ones, only if count <= 10
	Millis    int64     `json:"millis"`
	Truncated bool      `json:"truncated"` // stopped by the peer's per-command time limit
}

// Stats are the peer's receive counters.
type Stats struct {
	Received   int64 `json:"received"` // ByteMessages delivered to the listener
	Bytes      int64 `json:"bytes"`
	Objects    int64 `json:"objects"` // non-ByteMessage payloads
	Thrown     int64 `json:"thrown"`
	Echoed     int64 `json:"echoed"`
	EchoFailed int64 `json:"echoFailed"`
}

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
	Skip(t)
	ctx, cancel := context.WithTimeout(context.Background(), StartTimeout)
	defer cancel()
	p, err := StartNode(ctx, args...)
	if p != nil {
		t.Cleanup(func() {
			p.Stop()
			if t.Failed() {
				t.Logf("java peer %s (pid %d, args %q) stderr:\n%s", p.Member(), p.Pid(), p.args, p.Stderr())
			}
		})
	}
	if err != nil {
		t.Fatalf("javapeer.Start: %v", err)
	}
	return p
}

// StartNode is Start without testutil.TB: the caller must Stop the peer. On
// error the returned *Peer (if not nil) is already stopped but can still be
// asked for its stderr.
func StartNode(ctx context.Context, args ...string) (*Peer, error) {
	cp, err := Build()
	if err != nil {
		return nil, err
	}
	args = withDefaults(args)
	cmdArgs := append(javaArgs(cp), "node")
	cmdArgs = append(cmdArgs, args...)
	cmd := exec.Command("java", cmdArgs...)
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

// readLoop parses stdout until EOF, then reaps the process.
func (p *Peer) readLoop(r io.Reader) {
	defer close(p.done)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxLine)
	for sc.Scan() {
		p.handleLine(sc.Text())
	}
	if err := sc.Err(); err != nil {
		fmt.Fprintf(p.stderr, "javapeer: reading stdout: %v\n", err)
		_, _ = io.Copy(io.Discard, r) // keep draining so the JVM cannot block
	}
	err := p.cmd.Wait()
	p.mu.Lock()
	p.exited = true
	p.exitErr = err
	for id, ch := range p.pending {
		close(ch)
		delete(p.pending, id)
	}
	p.wakeLocked()
	p.mu.Unlock()
}

func (p *Peer) handleLine(line string) {
	line = strings.TrimSpace(line)
	if line == "" {
		return
	}
	var raw map[string]any
	if err := json.Unmarshal([]byte(line), &raw); err != nil {
		fmt.Fprintf(p.stderr, "javapeer: non-JSON stdout line: %q\n", line)
		return
	}
	ev := Event{Raw: raw, Line: line}
	ev.Event, _ = raw["event"].(string)
	reply, _ := raw["reply"].(bool)
	if !reply {
		// Command replies have other field types (e.g. "sha256" is a list);
		// they are decoded by the command's caller.
		if err := json.Unmarshal([]byte(line), &ev); err != nil || ev.Event == "" {
			fmt.Fprintf(p.stderr, "javapeer: unexpected stdout line (%v): %q\n", err, line)
			return
		}
		ev.Raw, ev.Line = raw, line
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if reply {
		id := int64(-1)
		if f, ok := ev.Raw["cmdId"].(float64); ok {
			id = int64(f)
		}
		if ch, ok := p.pending[id]; ok {
			delete(p.pending, id)
			ch <- ev // buffered, one reply per command
		}
		return
	}
	if len(p.events) >= maxQueued {
		p.events = p.events[1:]
		p.dropped++
	}
	p.events = append(p.events, ev)
	p.wakeLocked()
}

func (p *Peer) wakeLocked() {
	close(p.notify)
	p.notify = make(chan struct{})
}

// take removes and returns the first queued event matching pred (nil = any).
// Otherwise it returns the channel to wait on and the exit state.
func (p *Peer) take(pred func(Event) bool) (ev Event, ok bool, wait <-chan struct{}, exited bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, e := range p.events {
		if pred == nil || pred(e) {
			p.events = slices.Delete(p.events, i, i+1)
			return e, true, nil, false
		}
	}
	return Event{}, false, p.notify, p.exited
}

// NextEvent returns the next queued event (command replies excluded),
// waiting until one arrives, ctx is done or the process exited (ErrExited).
func (p *Peer) NextEvent(ctx context.Context) (Event, error) {
	return p.WaitFor(ctx, nil)
}

// WaitFor returns (and removes) the first queued event matching pred, waiting
// for one if needed. Non-matching events stay queued in order.
func (p *Peer) WaitFor(ctx context.Context, pred func(Event) bool) (Event, error) {
	for {
		ev, ok, wait, exited := p.take(pred)
		if ok {
			return ev, nil
		}
		if exited {
			return Event{}, p.exitError()
		}
		select {
		case <-wait:
		case <-ctx.Done():
			return Event{}, ctx.Err()
		}
	}
}

// WaitEvent is WaitFor with a timeout that fails t (with the peer's stderr
// and the still queued events) when no matching event arrives in time or the
// process exits. Non-matching events stay queued.
func (p *Peer) WaitEvent(t testutil.TB, timeout time.Duration, pred func(Event) bool) Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	ev, err := p.WaitFor(ctx, pred)
	if err != nil {
		t.Fatalf("javapeer %s: no matching event within %v: %v\n%s", p.Member(), timeout, err, p.debugState())
	}
	return ev
}

// WaitEvents collects n events matching pred (in arrival order) within timeout
// or fails t.
func (p *Peer) WaitEvents(t testutil.TB, timeout time.Duration, n int, pred func(Event) bool) []Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	out := make([]Event, 0, n)
	for len(out) < n {
		ev, err := p.WaitFor(ctx, pred)
		if err != nil {
			t.Fatalf("javapeer %s: got %d of %d matching events within %v: %v\n%s",
				p.Member(), len(out), n, timeout, err, p.debugState())
		}
		out = append(out, ev)
	}
	return out
}

// Pending returns a copy of the queued (not yet consumed) events.
func (p *Peer) Pending() []Event {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.events)
}

// Dropped reports how many old events were discarded because more than
// 1<<20 were queued.
func (p *Peer) Dropped() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.dropped
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

// command sends one stdin command and waits for its reply.
func (p *Peer) command(ctx context.Context, line string) (Event, error) {
	ch := make(chan Event, 1)
	p.mu.Lock()
	if p.exited {
		p.mu.Unlock()
		return Event{}, p.exitError()
	}
	p.nextCmd++
	id := p.nextCmd
	p.pending[id] = ch
	p.mu.Unlock()

	if err := p.writeLine(fmt.Sprintf("#%d %s", id, line)); err != nil {
		p.forget(id)
		return Event{}, fmt.Errorf("javapeer: writing command: %w", err)
	}
	select {
	case ev, ok := <-ch:
		if !ok {
			return Event{}, p.exitError()
		}
		if ev.Event == "error" {
			msg, _ := ev.Raw["error"].(string)
			return ev, fmt.Errorf("javapeer: command %q: %s", line, msg)
		}
		return ev, nil
	case <-ctx.Done():
		p.forget(id)
		return Event{}, ctx.Err()
	}
}

func (p *Peer) forget(id int64) {
	p.mu.Lock()
	delete(p.pending, id)
	p.mu.Unlock()
}

func (p *Peer) writeLine(s string) error {
	p.stdinMu.Lock()
	defer p.stdinMu.Unlock()
	_, err := io.WriteString(p.stdin, s+"\n")
	return err
}

// Send makes the peer send count ByteMessages of Content(size, seq, prefix)
// to the members ("host:port:idhex") with the given Tribes send options (the
// int goes straight to GroupChannel.send). prefix must not contain spaces.
// The Java side sends sequentially and answers when all are done (or failed).
func (p *Peer) Send(ctx context.Context, to []string, count, size, options int, prefix string) (SendResult, error) {
	if len(to) == 0 {
		return SendResult{}, errors.New("javapeer: Send needs at least one member")
	}
	if strings.ContainsAny(prefix, " \t\r\n") {
		return SendResult{}, fmt.Errorf("javapeer: prefix %q contains white space", prefix)
	}
	for _, m := range to {
		if m == "" || strings.ContainsAny(m, ", \t\r\n") {
			return SendResult{}, fmt.Errorf("javapeer: bad member %q", m)
		}
	}
	line := fmt.Sprintf("send %s %d %d %d", strings.Join(to, ","), count, size, options)
	if prefix != "" {
		line += " " + prefix
	}
	ev, err := p.command(ctx, line)
	if err != nil {
		return SendResult{}, err
	}
	var r SendResult
	if err := json.Unmarshal([]byte(ev.Line), &r); err != nil {
		return SendResult{}, fmt.Errorf("javapeer: bad sendResult %q: %w", ev.Line, err)
	}
	return r, nil
}

// Stats returns the peer's receive counters (handy with --quiet).
func (p *Peer) Stats(ctx context.Context) (Stats, error) {
	ev, err := p.command(ctx, "stats")
	if err != nil {
		return Stats{}, err
	}
	var s Stats
	if err := json.Unmarshal([]byte(ev.Line), &s); err != nil {
		return Stats{}, fmt.Errorf("javapeer: bad stats %q: %w", ev.Line, err)
	}
	return s, nil
}

// Members returns the Java channel's current members (with --mcast-addr or --static-membership,
// what its membership service sees; otherwise none).
func (p *Peer) Members(ctx context.Context) ([]From, error) {
	ev, err := p.command(ctx, "members")
	if err != nil {
		return nil, err
	}
	var r struct {
		Members []From `json:"members"`
	}
	if err := json.Unmarshal([]byte(ev.Line), &r); err != nil {
		return nil, fmt.Errorf("javapeer: bad members reply %q: %w", ev.Line, err)
	}
	return r.Members, nil
}

// Ping round-trips a no-op command; when it returns, every event the peer
// printed before reading the command is queued.
func (p *Peer) Ping(ctx context.Context) error {
	_, err := p.command(ctx, "ping")
	return err
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
