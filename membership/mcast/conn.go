package mcast

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"sync/atomic"
	"time"

	"golang.org/x/net/ipv4"
)

// packetConn is the socket of a Service: a multicast UDP socket, or an in-memory network
// in tests (which lets the whole service run inside a testing/synctest bubble).
type packetConn interface {
	// ReadPacket reads one datagram into b, waiting until deadline at most, and returns
	// its length and sender; a timeout is an error matching os.ErrDeadlineExceeded.
	ReadPacket(b []byte, deadline time.Time) (int, netip.AddrPort, error)
	// WritePacket sends one datagram to the group.
	WritePacket(b []byte) error
	// Close closes the socket (leaving the group); a blocked ReadPacket returns.
	Close() error
}

// interruptible conns can wake a blocked ReadPacket (Stop of the receiver while the
// sender keeps the socket). An interrupt holds until Resume: a ReadPacket called after
// it returns at once whatever its deadline, so that a receive loop that computed its
// deadline just before the interrupt does not wait for it.
type interruptible interface {
	Interrupt()
	Resume()
}

// opener opens the socket for a validated configuration.
type opener func(s *settings) (packetConn, error)

// udpConn is a multicast UDP socket bound to group:port, joined and sending on one
// explicitly chosen interface.
type udpConn struct {
	intr atomic.Bool // interrupted: reads return at once until Resume
	c    *net.UDPConn
	p    *ipv4.PacketConn
	cm   *ipv4.ControlMessage
	dst  *net.UDPAddr
}

// openUDP opens the socket on the interface of Bind / Interface as it is now, and
// records that interface in s (the caller holds the Service's lock).
func openUDP(s *settings) (packetConn, error) {
	now := *s
	if err := now.resolveInterface(); err != nil {
		return nil, err
	}
	s.ifi, s.source = now.ifi, now.source
	dst := &net.UDPAddr{IP: s.group.Addr().AsSlice(), Port: int(s.group.Port())}
	// ListenMulticastUDP binds group:port with SO_REUSEADDR (so that several nodes on one
	// host share the port, as Java's MulticastSocket does), selects ifi for sending and
	// joins the group on ifi.
	c, err := net.ListenMulticastUDP("udp4", s.ifi, dst)
	if err != nil {
		return nil, fmt.Errorf("mcast: listen on %v via %s (%s): %w", dst, s.ifi.Name, s.source, err)
	}
	p := ipv4.NewPacketConn(c)
	fail := func(what string, err error) (packetConn, error) {
		c.Close()
		return nil, fmt.Errorf("mcast: %s on %s: %w", what, s.ifi.Name, err)
	}
	if err := p.SetMulticastInterface(s.ifi); err != nil {
		return fail("selecting the multicast interface", err)
	}
	if err := p.SetMulticastLoopback(!s.LocalLoopbackDisabled); err != nil {
		return fail("setting multicast loopback", err)
	}
	if s.TTL > 0 {
		if err := p.SetMulticastTTL(s.TTL); err != nil {
			return fail("setting the multicast TTL", err)
		}
	}
	u := &udpConn{c: c, p: p, dst: dst}
	if runtime.GOOS == "linux" {
		// IP_PKTINFO pins the source address too: without it Linux picks the address of
		// another interface as the source of packets sent on loopback.
		u.cm = &ipv4.ControlMessage{Src: s.source.AsSlice(), IfIndex: s.ifi.Index}
	}
	_ = c.SetReadBuffer(1 << 20)
	return u, nil
}

func (u *udpConn) ReadPacket(b []byte, deadline time.Time) (int, netip.AddrPort, error) {
	if err := u.c.SetReadDeadline(deadline); err != nil {
		return 0, netip.AddrPort{}, err
	}
	// Checked after setting the deadline: an Interrupt that comes later moves the
	// deadline to the past after this one was set.
	if u.intr.Load() {
		return 0, netip.AddrPort{}, os.ErrDeadlineExceeded
	}
	return u.c.ReadFromUDPAddrPort(b)
}

func (u *udpConn) WritePacket(b []byte) error {
	_, err := u.p.WriteTo(b, u.cm, u.dst)
	return err
}

func (u *udpConn) Interrupt() {
	u.intr.Store(true)
	_ = u.c.SetReadDeadline(time.Unix(1, 0))
}

func (u *udpConn) Resume() { u.intr.Store(false) }

func (u *udpConn) Close() error { return u.c.Close() }
