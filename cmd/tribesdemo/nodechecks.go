package main

import (
	"bytes"
	"sync"
	"sync/atomic"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/interceptors"
)

// A node whose stack lacks the tcpfailure or ping interceptor receives the other nodes'
// probes and pings as 64-byte byte messages, as a Java node without those interceptors
// does (the README's program, with "ping,tcpfailure", probes a plain "node" on every
// heartbeat). They are no application's messages: node prints the first of each sender
// and kind as a check, echoes none and counts them in its stopped line.

var (
	probeBytes = interceptors.FailureDetectorProbe()
	pingBytes  = interceptors.PingPayload()
)

// checkKind names the interceptor whose check data is, or "" for any other message.
func checkKind(data []byte) string {
	switch {
	case len(data) != len(probeBytes):
		return ""
	case bytes.Equal(data, probeBytes):
		return "tcpfailure"
	case bytes.Equal(data, pingBytes):
		return "ping"
	}
	return ""
}

// maxCheckSenders bounds the senders remembered as already announced; the checks of
// further ones are counted and not printed.
const maxCheckSenders = 1024

// checkCounter counts the checks a node received and tells whether a sender's check of
// a kind is its first.
type checkCounter struct {
	n    atomic.Int64
	mu   sync.Mutex
	seen map[checkKey]bool
}

type checkKey struct {
	from channel.MemberKey
	kind string
}

// first counts one check and reports whether it is the first of its sender and kind.
func (c *checkCounter) first(from channel.Member, kind string) bool {
	c.n.Add(1)
	c.mu.Lock()
	defer c.mu.Unlock()
	k := checkKey{from.Key(), kind}
	if c.seen[k] || len(c.seen) >= maxCheckSenders {
		return false
	}
	if c.seen == nil {
		c.seen = map[checkKey]bool{}
	}
	c.seen[k] = true
	return true
}

// checkDescriptions say what each kind of check is, for a newcomer who did not send it.
var checkDescriptions = map[string]string{
	"tcpfailure": "a probe of its tcpfailure interceptor (Tribes' TcpFailureDetector)",
	"ping":       "a ping of its ping interceptor (Tribes' TcpPingInterceptor)",
}

// check prints a sender's first check of a kind.
func (p *nodePrinter) check(m *channel.Message, kind string) {
	if p.json {
		p.w.emit(map[string]any{"event": "check", "kind": kind, "from": toJSON(m.Source), "size": len(m.Data)})
		return
	}
	p.text("· %s checks this node: %s, %d bytes, not a message: not echoed; its next ones are counted when the node stops",
		m.Source.Addr(), checkDescriptions[kind], len(m.Data))
}
