package javapeer

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/gotribes/tribes/internal/testutil"
)

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
