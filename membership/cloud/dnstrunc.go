package cloud

import (
	"context"
	"net"
	"sync/atomic"

	"golang.org/x/net/dns/dnsmessage"
)

// Go's resolver asks over UDP first and, when the answer comes truncated (its TC flag
// set), asks again over TCP, taking what that second attempt answers as it is, truncated
// or not: a Dial that answers it over UDP (dialing UDP whatever network it is asked
// for), or a server whose answer does not fit one TCP message, gives the addresses that
// fit and no error. The provider watches, through the configured Dial, the answers of
// the TCP attempts for that flag, and logs it (truncatedAnswers). Only an answer Go's
// resolver takes for the query's counts: a response to it (ID and question as asked,
// RCODE success); a forged or stray message, which the resolver skips (packet) or
// rejects (stream), does not (TestDNSForgedTruncatedResponseIsNotCounted).

// maxQuestionEnd bounds what is kept of a stream's answer to check it: its length, the
// header and one question of a name of at most 255 bytes.
const maxQuestionEnd = 2 + 12 + 255 + 4

// truncKey is the context key of a Fetch's *atomic.Bool, set when an answer came
// truncated on a TCP attempt.
type truncKey struct{}

// watchTruncation returns a resolver that asks as r does, through r's Dial (a zero
// net.Dialer's, as Go's resolver dials, if r has none), and marks the Fetch's flag
// (truncKey) when an answer on a TCP attempt comes truncated. (A resolver that leaves
// Go's DNS client to the system's, PreferGo unset where cgo is used, dials nothing, and
// so is told nothing.) It reads r's fields once: the DNS provider calls it for each
// fetch, so that a change of the configured resolver applies to the next fetch.
func watchTruncation(r *net.Resolver) *net.Resolver {
	if r == nil {
		r = net.DefaultResolver
	}
	dial := r.Dial
	if dial == nil {
		dial = func(ctx context.Context, network, address string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, address)
		}
	}
	return &net.Resolver{PreferGo: r.PreferGo, StrictErrors: r.StrictErrors,
		Dial: func(ctx context.Context, network, address string) (net.Conn, error) {
			c, err := dial(ctx, network, address)
			flag, _ := ctx.Value(truncKey{}).(*atomic.Bool)
			if err != nil || flag == nil || network != "tcp" {
				return c, err
			}
			if pc, ok := c.(net.PacketConn); ok {
				// Go's resolver reads a packet connection a message per Read, whatever
				// network it asked for.
				return &truncPacketConn{truncConn: truncConn{Conn: c, flag: flag}, pc: pc}, nil
			}
			return &truncConn{Conn: c, flag: flag, stream: true}, nil
		}}
}

// truncConn is a connection of a TCP attempt: it keeps the query written on it and
// checks the answers read for the TC flag. A stream's first message is the only answer
// Go's resolver reads; a packet connection's every Read is a message.
type truncConn struct {
	net.Conn
	flag   *atomic.Bool
	stream bool

	out    []byte // a stream's query as written, up to maxQuestionEnd bytes
	query  dnsmessage.Question
	id     uint16
	asked  bool   // query and id hold the query
	in     []byte // a stream's answer as read, up to maxQuestionEnd bytes
	judged bool   // a stream's answer was checked
}

func (c *truncConn) Write(p []byte) (int, error) {
	if c.stream {
		if !c.asked && len(c.out) < maxQuestionEnd {
			c.out = append(c.out, p[:min(len(p), maxQuestionEnd-len(c.out))]...)
			if len(c.out) > 2 {
				c.ask(c.out[2:])
			}
		}
	} else {
		c.ask(p)
	}
	return c.Conn.Write(p)
}

// ask records the query of msg, if msg holds one's header and question.
func (c *truncConn) ask(msg []byte) {
	var p dnsmessage.Parser
	h, err := p.Start(msg)
	if err != nil || h.Response {
		return
	}
	q, err := p.Question()
	if err != nil {
		return
	}
	c.query, c.id, c.asked = q, h.ID, true
}

func (c *truncConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if !c.stream {
		c.check(p[:n])
		return n, err
	}
	if !c.judged && n > 0 {
		c.in = append(c.in, p[:min(n, maxQuestionEnd-len(c.in))]...)
		if len(c.in) >= 2 {
			need := min(2+(int(c.in[0])<<8|int(c.in[1])), maxQuestionEnd)
			if len(c.in) >= need {
				c.judged = true
				c.check(c.in[2:need])
			}
		}
	}
	return n, err
}

// check marks the flag if msg, or its beginning, is a truncated answer to the query: a
// response with its ID, one question, the one asked (the name compared without ASCII
// case, as Go's resolver compares it), and no error code.
func (c *truncConn) check(msg []byte) {
	if !c.asked || len(msg) < 12 || msg[2]&0x02 == 0 { // the header's TC bit
		return
	}
	if qd := int(msg[4])<<8 | int(msg[5]); qd != 1 {
		return
	}
	var p dnsmessage.Parser
	h, err := p.Start(msg)
	if err != nil || !h.Response || !h.Truncated || h.ID != c.id || h.RCode != dnsmessage.RCodeSuccess {
		return
	}
	q, err := p.Question()
	if err != nil || q.Type != c.query.Type || q.Class != c.query.Class || !sameName(q.Name, c.query.Name) {
		return
	}
	c.flag.Store(true)
}

// sameName compares two names without ASCII case.
func sameName(x, y dnsmessage.Name) bool {
	if x.Length != y.Length {
		return false
	}
	for i := range int(x.Length) {
		a, b := x.Data[i], y.Data[i]
		if 'A' <= a && a <= 'Z' {
			a += 'a' - 'A'
		}
		if 'A' <= b && b <= 'Z' {
			b += 'a' - 'A'
		}
		if a != b {
			return false
		}
	}
	return true
}

// truncPacketConn is a truncConn over a packet connection, still one for Go's resolver.
type truncPacketConn struct {
	truncConn
	pc net.PacketConn
}

func (c *truncPacketConn) ReadFrom(p []byte) (int, net.Addr, error) {
	n, a, err := c.pc.ReadFrom(p)
	c.check(p[:n])
	return n, a, err
}

func (c *truncPacketConn) WriteTo(p []byte, a net.Addr) (int, error) {
	c.ask(p)
	return c.pc.WriteTo(p, a)
}
