package cloud

import (
	"context"
	"encoding/binary"
	"net"
	"sync/atomic"

	"golang.org/x/net/dns/dnsmessage"
)

// Go's resolver asks over UDP first and, when the answer comes truncated (its TC flag
// set), asks again over TCP, taking what that second attempt answers as it is, truncated
// or not: a Dial that answers it over UDP (dialing UDP whatever network it is asked
// for), or a server whose answer does not fit one TCP message, gives the addresses that
// fit and no error. The provider watches, through the configured Dial, the answers of
// the TCP attempts for that flag, and the DNS provider logs and counts it
// (DNS.TruncatedAnswers). Only an answer Go's resolver takes for the query's counts: a
// response to it (ID and question as asked, RCODE success, also EDNS's extended RCODE:
// TestTruncationWatchEDNSExtendedRCode), on a stream once read whole
// (TestTruncationWatchWaitsForTheWholeAnswer), its question name parsed as the resolver
// parses it, through a compression pointer to anywhere in the message too
// (TestDNSTruncatedAnswerWithAPointerInItsQuestionIsCounted); a forged or stray
// message, which the resolver skips (packet) or rejects (stream), does not
// (TestDNSForgedTruncatedResponseIsNotCounted).

// maxQuestionEnd bounds what is kept of a stream's answer to judge whether it answers the
// query: its length, the header and one question of a name of at most 255 bytes. A
// question whose name is a compression pointer beyond (which Go's resolver follows), or
// a truncated answer to the query, whose EDNS OPT record may hold an error code, needs
// the whole message: it is then kept, up to the 2+65535 bytes its length allows.
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
// Go's resolver reads, and takes only once it read it whole; a packet connection's every
// Read is a message.
type truncConn struct {
	net.Conn
	flag   *atomic.Bool
	stream bool

	out   []byte // a stream's query as written, up to maxQuestionEnd bytes
	query dnsmessage.Question
	id    uint16
	asked bool // query and id hold the query

	// A stream's answer.
	in     []byte // as read, up to maxQuestionEnd bytes, or its size if whole
	read   int    // bytes read so far
	size   int    // its length prefix and message, once read (0 before)
	whole  bool   // judging it needs more than maxQuestionEnd bytes: keep it whole
	match  bool   // a truncated answer to the query: the flag is marked once it is read whole
	judged bool   // nothing more to keep
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
		if c.answers(p[:n], true) == answerTruncated {
			c.flag.Store(true)
		}
		return n, err
	}
	c.readStream(p[:n])
	return n, err
}

// readStream follows a stream's first message through the bytes b read next, keeping
// what it needs to judge it, and marks the flag once a truncated answer to the query
// was read whole.
func (c *truncConn) readStream(b []byte) {
	if c.size > 0 && c.read >= c.size {
		return // the first message was read whole: Go's resolver reads no other
	}
	c.read += len(b)
	for len(b) > 0 && !c.judged {
		limit := maxQuestionEnd
		if c.whole {
			limit = c.size
		}
		k := min(len(b), limit-len(c.in))
		c.in, b = append(c.in, b[:k]...), b[k:]
		if len(c.in) < 2 {
			continue
		}
		c.size = 2 + int(binary.BigEndian.Uint16(c.in))
		end := min(c.size, limit)
		if len(c.in) < end {
			continue
		}
		switch c.answers(c.in[2:end], end == c.size) {
		case answerTruncated:
			c.match, c.judged = true, true
		case answerOther:
			c.judged = true
		case answerUnsure:
			c.whole = true // end < c.size: read on
		}
		if c.judged {
			c.in = nil
		}
	}
	if c.match && c.read >= c.size {
		c.flag.Store(true)
		c.match = false
	}
}

// A verdict of answers on a message.
const (
	answerOther     = iota // not a truncated answer to the query
	answerTruncated        // a truncated answer to the query
	answerUnsure           // the question, or what follows it, goes beyond the bytes given
)

// answers tells whether msg, a message (whole) or its beginning, is a truncated answer
// to the query, as Go's resolver takes it: a response with its ID, one question, the one
// asked (the name compared without ASCII case, as Go's resolver compares it), and no
// error code, neither in its header nor in an EDNS OPT record (which needs the message
// whole: answerUnsure before).
func (c *truncConn) answers(msg []byte, whole bool) int {
	if !c.asked || len(msg) < 12 || msg[2]&0x02 == 0 { // the header's TC bit
		return answerOther
	}
	if qd := int(msg[4])<<8 | int(msg[5]); qd != 1 {
		return answerOther
	}
	var p dnsmessage.Parser
	h, err := p.Start(msg)
	if err != nil || !h.Response || !h.Truncated || h.ID != c.id || h.RCode != dnsmessage.RCodeSuccess {
		return answerOther
	}
	q, err := p.Question()
	if err != nil && !whole {
		return answerUnsure
	}
	if err != nil || q.Type != c.query.Type || q.Class != c.query.Class || !sameName(q.Name, c.query.Name) {
		return answerOther
	}
	if !whole {
		return answerUnsure // an EDNS error code is in its OPT record, further on
	}
	if p.SkipQuestion() != dnsmessage.ErrSectionDone || extendedRCode(p, h.RCode) != dnsmessage.RCodeSuccess {
		return answerOther
	}
	return answerTruncated
}

// extendedRCode is the response code of the message p is at the answers of, as Go's
// resolver reads it: the header's (rcode), extended by the upper bits of an EDNS OPT
// record among the additional records, if the sections before let it be found (a
// response with an extended error code, such as BADVERS, is not an answer the resolver
// takes).
func extendedRCode(p dnsmessage.Parser, rcode dnsmessage.RCode) dnsmessage.RCode {
	if p.SkipAllAnswers() != nil || p.SkipAllAuthorities() != nil {
		return rcode
	}
	for {
		h, err := p.AdditionalHeader()
		if err != nil {
			return rcode
		}
		if h.Type == dnsmessage.TypeOPT {
			return h.ExtendedRCode(rcode)
		}
		if p.SkipAdditional() != nil {
			return rcode
		}
	}
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
	if c.answers(p[:n], true) == answerTruncated {
		c.flag.Store(true)
	}
	return n, a, err
}

func (c *truncPacketConn) WriteTo(p []byte, a net.Addr) (int, error) {
	c.ask(p)
	return c.pc.WriteTo(p, a)
}
