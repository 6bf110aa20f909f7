package cloud

import (
	"context"
	"net"
	"sync/atomic"
)

// Go's resolver asks over UDP first and, when the answer comes truncated (its TC flag
// set), asks again over TCP, taking what that second attempt answers as it is, truncated
// or not: a Dial that answers it over UDP (dialing UDP whatever network it is asked
// for), or a server whose answer does not fit one TCP message, gives the addresses that
// fit and no error. The provider watches, through the configured Dial, the answers of
// the TCP attempts for that flag, and logs it (truncatedAnswers).

// dnsFlagsTC is the truncated flag (TC) in the third byte of a DNS message's header.
const dnsFlagsTC = 0x02

// truncKey is the context key of a Fetch's *atomic.Bool, set when an answer came
// truncated on a TCP attempt.
type truncKey struct{}

// watchTruncation returns a resolver that asks as r does, through r's Dial (a zero
// net.Dialer's, as Go's resolver dials, if r has none), and marks the Fetch's flag
// (truncKey) when an answer on a TCP attempt comes truncated. (A resolver that leaves
// Go's DNS client to the system's, PreferGo unset where cgo is used, dials nothing, and
// so is told nothing.)
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
				return &truncPacketConn{truncConn: truncConn{Conn: c, flag: flag, at: 2}, pc: pc}, nil
			}
			return &truncConn{Conn: c, flag: flag, at: 4}, nil // after the 2-byte length
		}}
}

// truncConn is a connection of a TCP attempt whose answer's TC flag it checks: the byte
// at offset at of what is read (of each Read, for a packet connection).
type truncConn struct {
	net.Conn
	flag *atomic.Bool
	at   int
	read int // a stream's bytes read so far
}

func (c *truncConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if c.read <= c.at && c.at < c.read+n && p[c.at-c.read]&dnsFlagsTC != 0 {
		c.flag.Store(true)
	}
	c.read += n
	return n, err
}

// truncPacketConn is a truncConn over a packet connection, still one for Go's resolver.
type truncPacketConn struct {
	truncConn
	pc net.PacketConn
}

func (c *truncPacketConn) Read(p []byte) (int, error) {
	c.read = 0 // each Read is a message
	return c.truncConn.Read(p)
}

func (c *truncPacketConn) ReadFrom(p []byte) (int, net.Addr, error) {
	n, a, err := c.pc.ReadFrom(p)
	if n > c.at && p[c.at]&dnsFlagsTC != 0 {
		c.flag.Store(true)
	}
	return n, a, err
}

func (c *truncPacketConn) WriteTo(p []byte, a net.Addr) (int, error) { return c.pc.WriteTo(p, a) }
