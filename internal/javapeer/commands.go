package javapeer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

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
	BufferPool bool  `json:"bufferPool"` // the receiver's useBufferPool (--buffer-pool, default true)
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
// to the members ("host:port:idhex", with "@udpport" for a member's UDP port, which
// option 0x20 sends to) with the given Tribes send options (the
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

// CoordinatorView returns the view of the Java channel's SimpleCoordinator interceptor
// (--interceptors SimpleCoordinator): its members in the order it sorted them, the
// coordinator first; none before it installed one.
func (p *Peer) CoordinatorView(ctx context.Context) ([]From, error) {
	ev, err := p.command(ctx, "coordinator-view")
	if err != nil {
		return nil, err
	}
	var r struct {
		View []From `json:"view"`
	}
	if err := json.Unmarshal([]byte(ev.Line), &r); err != nil {
		return nil, fmt.Errorf("javapeer: bad coordinator-view reply %q: %w", ev.Line, err)
	}
	return r.View, nil
}

// Ping round-trips a no-op command; when it returns, every event the peer
// printed before reading the command is queued.
func (p *Peer) Ping(ctx context.Context) error {
	_, err := p.command(ctx, "ping")
	return err
}
