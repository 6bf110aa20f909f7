package mcast

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/wire"
)

// Defaults, with the Tomcat McastService attribute each one mirrors.
const (
	// DefaultAddress is Tomcat's multicast group (address).
	DefaultAddress = "228.0.0.4"
	// DefaultPort is Tomcat's multicast port (port).
	DefaultPort = 45564
	// DefaultFrequency is Tomcat's heartbeat period (frequency).
	DefaultFrequency = 500 * time.Millisecond
	// DefaultDropTime is Tomcat's expiry time (dropTime).
	DefaultDropTime = 3000 * time.Millisecond
	// DefaultRecoveryCounter is Tomcat's recoveryCounter: consecutive socket errors that
	// start a recovery.
	DefaultRecoveryCounter = 10
	// DefaultRecoverySleepTime is Tomcat's recoverySleepTime: the pause between attempts to
	// re-create the socket.
	DefaultRecoverySleepTime = 5000 * time.Millisecond
	// MaxPacketSize is the largest datagram sent or received (Tomcat MAX_PACKET_SIZE).
	MaxPacketSize = 65535

	// Limits on what heartbeats may announce (no Tomcat equivalent: Tomcat keeps whatever
	// arrives). Tomcat's own members carry a 4- or 16-byte address, an empty or 9-byte
	// command (BABY-ALEX), a domain of a few bytes and usually no payload, in clusters of a
	// handful of nodes.

	// DefaultMaxMembers is how many members a Service keeps at most.
	DefaultMaxMembers = 1024
	// DefaultMaxPayloadSize is the largest member payload accepted.
	DefaultMaxPayloadSize = 4096
	// DefaultMaxDomainSize is the largest member domain accepted.
	DefaultMaxDomainSize = 256
	// DefaultMaxCommandSize is the largest member command accepted.
	DefaultMaxCommandSize = 256
	// DefaultMaxHostSize is the largest member host accepted (an address: 4 or 16 bytes).
	DefaultMaxHostSize = 64
)

// Config configures a Service. The zero value of a field means the default named in its
// comment, except Bind/Interface: one of them is required, because multicast must never be
// sent on whatever interface the default route happens to use.
type Config struct {
	// Address is the IPv4 multicast group (Tomcat: address, default 228.0.0.4).
	Address string
	// Port is the UDP port (Tomcat: port, default 45564). The socket binds group:port, so
	// heartbeats are also sent from this port, as Java's are.
	Port int

	// Bind is the address of the interface multicast is sent on and the group joined on
	// (Tomcat: bind). It must be an address of a local interface, e.g. "127.0.0.1" for
	// nodes on one machine or the node's LAN address. Required unless Interface is set.
	Bind string
	// Interface names the interface instead (e.g. "eth0"); its first IPv4 address is the
	// source of the heartbeats. If both are set, Bind must belong to Interface.
	Interface string

	// Frequency is the heartbeat period (Tomcat: frequency, default 500 ms).
	Frequency time.Duration
	// DropTime is how long a member may stay silent before it expires (Tomcat: dropTime,
	// default 3000 ms). Expiry is checked exactly when it is due, not on the next receive
	// timeout as in Tomcat.
	DropTime time.Duration
	// SoTimeout bounds one receive call (Tomcat: soTimeout, default Frequency). Expiry has
	// its own deadline, and Stop interrupts a receive call at once.
	SoTimeout time.Duration
	// TTL is the multicast time-to-live (Tomcat: ttl; 0 leaves the operating system's
	// default, 1 on Linux).
	TTL int
	// LocalLoopbackDisabled turns IP_MULTICAST_LOOP off (Tomcat: localLoopbackDisabled,
	// default false). Nodes on the same host that share an interface other than loopback
	// then no longer hear each other.
	LocalLoopbackDisabled bool

	// RecoveryDisabled turns socket recovery off (Tomcat: recoveryEnabled=false; recovery
	// is on by default). After RecoveryCounter consecutive socket errors the socket is
	// closed and re-created every RecoverySleepTime until that succeeds.
	RecoveryDisabled bool
	// RecoveryCounter is the number of consecutive errors that starts a recovery
	// (Tomcat: recoveryCounter, default 10).
	RecoveryCounter int
	// RecoverySleepTime is the pause between recovery attempts (Tomcat:
	// recoverySleepTime, default 5000 ms).
	RecoverySleepTime time.Duration

	// JoinWait bounds how long Start of the membership-tx level waits for the group to
	// answer, so that Members is useful when Start returns (Tomcat sleeps 2 × frequency
	// after each start level). Start returns early once members have answered and no new
	// one arrived for a fifth of Frequency. Default 2 × Frequency; negative means do not
	// wait.
	JoinWait time.Duration
	// NoFastJoin turns off the Go improvements to joining: by default a node sends a
	// heartbeat at once when it sees a new member (so the newcomer learns about it in
	// milliseconds, not within Frequency) and when its payload or domain changes. Java
	// nodes only ever send on their period.
	NoFastJoin bool
	// NoStallGuard turns off the guard against expiring everyone after the local process
	// was paused (a stop signal, a long GC, a suspended VM): when the receive loop itself
	// was held up for longer than half of DropTime, the silence it saw is not counted
	// against the members. Tomcat has no such guard and drops every member after a pause.
	NoStallGuard bool

	// MaxMembers bounds the members kept: heartbeats of further new members are ignored
	// and counted (Stats.MembersOverLimit) until some expire. 0 means DefaultMaxMembers.
	MaxMembers int
	// MaxPayloadSize, MaxDomainSize, MaxCommandSize and MaxHostSize bound the fields of a
	// heartbeat: one with a larger field is ignored whole and counted
	// (Stats.OversizedHeartbeats). 0 means DefaultMaxPayloadSize (4096),
	// DefaultMaxDomainSize (256), DefaultMaxCommandSize (256) and DefaultMaxHostSize (64).
	// The local member must fit them too (Start refuses it otherwise).
	MaxPayloadSize, MaxDomainSize, MaxCommandSize, MaxHostSize int

	// Logger receives lifecycle, membership and error logs. Nil discards them. Repeated
	// errors of one kind from one sender are rate-limited: the first lines, then a
	// summary of how many were not logged, once a minute.
	Logger *slog.Logger
}

// DefaultConfig returns Tomcat's defaults. Bind is empty: set it (or Interface) before
// calling New.
func DefaultConfig() Config {
	return Config{
		Address:           DefaultAddress,
		Port:              DefaultPort,
		Frequency:         DefaultFrequency,
		DropTime:          DefaultDropTime,
		SoTimeout:         DefaultFrequency,
		RecoveryCounter:   DefaultRecoveryCounter,
		RecoverySleepTime: DefaultRecoverySleepTime,
		JoinWait:          2 * DefaultFrequency,
	}
}

// DefaultLocalConfig is DefaultConfig on the loopback interface (127.0.0.1) with a TTL of
// 1: for nodes on one machine and for tests. Use a group or port of your own so that
// unrelated clusters on the machine do not meet.
func DefaultLocalConfig() Config {
	c := DefaultConfig()
	c.Bind = "127.0.0.1"
	c.TTL = 1
	return c
}

// settings is a validated Config with every default filled in.
type settings struct {
	Config
	group  netip.AddrPort
	ifi    *net.Interface // nil only for a fake network in tests
	source netip.Addr     // address the heartbeats are sent from
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: mcast: "+format, append([]any{channel.ErrInvalidConfig}, args...)...)
}

// normalize fills defaults and checks the configuration. Interfaces are resolved by
// resolveInterface, separately, so that tests can run without sockets.
func (c Config) normalize() (settings, error) {
	if c.Address == "" {
		c.Address = DefaultAddress
	}
	if c.Port == 0 {
		c.Port = DefaultPort
	}
	if c.Frequency == 0 {
		c.Frequency = DefaultFrequency
	}
	if c.DropTime == 0 {
		c.DropTime = DefaultDropTime
	}
	if c.SoTimeout == 0 {
		c.SoTimeout = c.Frequency
	}
	if c.RecoveryCounter == 0 {
		c.RecoveryCounter = DefaultRecoveryCounter
	}
	if c.RecoverySleepTime == 0 {
		c.RecoverySleepTime = DefaultRecoverySleepTime
	}
	if c.JoinWait == 0 {
		c.JoinWait = 2 * c.Frequency
	}
	for _, l := range []struct {
		v   *int
		def int
	}{{&c.MaxMembers, DefaultMaxMembers}, {&c.MaxPayloadSize, DefaultMaxPayloadSize},
		{&c.MaxDomainSize, DefaultMaxDomainSize}, {&c.MaxCommandSize, DefaultMaxCommandSize},
		{&c.MaxHostSize, DefaultMaxHostSize}} {
		if *l.v == 0 {
			*l.v = l.def
		}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	s := settings{Config: c}
	g, err := netip.ParseAddr(c.Address)
	if err != nil {
		return s, invalid("Address %q is not an IP address: %v", c.Address, err)
	}
	g = g.Unmap()
	if !g.Is4() || !g.IsMulticast() {
		return s, invalid("Address %s is not an IPv4 multicast group (224.0.0.0/4)", g)
	}
	if c.Port < 1 || c.Port > 65535 {
		return s, invalid("Port %d out of range 1..65535", c.Port)
	}
	s.group = netip.AddrPortFrom(g, uint16(c.Port))
	switch {
	case c.Frequency < 0:
		return s, invalid("Frequency %v is negative", c.Frequency)
	case c.DropTime <= c.Frequency:
		return s, invalid("DropTime %v must be longer than Frequency %v", c.DropTime, c.Frequency)
	case c.SoTimeout < 0:
		return s, invalid("SoTimeout %v is negative", c.SoTimeout)
	case c.TTL < 0 || c.TTL > 255:
		return s, invalid("TTL %d out of range 0..255", c.TTL)
	case c.RecoveryCounter < 0:
		return s, invalid("RecoveryCounter %d is negative", c.RecoveryCounter)
	case c.RecoverySleepTime < 0:
		return s, invalid("RecoverySleepTime %v is negative", c.RecoverySleepTime)
	case c.MaxMembers < 0 || c.MaxPayloadSize < 0 || c.MaxDomainSize < 0 || c.MaxCommandSize < 0 || c.MaxHostSize < 0:
		return s, invalid("negative MaxMembers, MaxPayloadSize, MaxDomainSize, MaxCommandSize or MaxHostSize")
	case c.MaxCommandSize < len(wire.ShutdownCommand):
		return s, invalid("MaxCommandSize %d cannot hold the shutdown command", c.MaxCommandSize)
	}
	if c.Bind == "" && c.Interface == "" {
		return s, invalid("no interface: set Config.Bind to the address of the interface to send " +
			"and join on (\"127.0.0.1\" on one machine), or Config.Interface to its name; " +
			"there is no default, so that heartbeats never leave on the default route")
	}
	if c.Bind != "" {
		a, err := netip.ParseAddr(c.Bind)
		if err != nil {
			return s, invalid("Bind %q is not an IP address: %v", c.Bind, err)
		}
		if a = a.Unmap(); !a.Is4() || a.IsUnspecified() || a.IsMulticast() {
			return s, invalid("Bind %s must be the IPv4 address of a local interface", a)
		}
		s.source = a
	}
	return s, nil
}

// resolveInterface finds the interface of Bind / Interface as it is now. New calls it,
// and so does every opening of the socket (Start, recovery): an interface deleted and
// created again (a re-created bridge, VLAN or VPN) has a new index, which a socket
// opened on the old one cannot use, and one named by Interface may have a new address.
// Tomcat looks its bind address's interface up in every setupSocket too.
func (s *settings) resolveInterface() error {
	s.ifi = nil
	if s.Bind == "" {
		s.source = netip.Addr{} // the first address of Interface, as it is now
	}
	if s.Interface != "" {
		ifi, err := net.InterfaceByName(s.Interface)
		if err != nil {
			return invalid("Interface %q: %v", s.Interface, err)
		}
		addrs := ipv4Addrs(ifi)
		if len(addrs) == 0 {
			return invalid("Interface %s has no IPv4 address", s.Interface)
		}
		if s.source.IsValid() {
			found := false
			for _, a := range addrs {
				found = found || a == s.source
			}
			if !found {
				return invalid("Bind %s is not an address of Interface %s (%v)", s.source, s.Interface, addrs)
			}
		} else {
			s.source = addrs[0]
		}
		s.ifi = ifi
	} else {
		ifs, err := net.Interfaces()
		if err != nil {
			return invalid("listing interfaces: %v", err)
		}
		for i := range ifs {
			for _, a := range ipv4Addrs(&ifs[i]) {
				if a == s.source {
					s.ifi = &ifs[i]
				}
			}
		}
		if s.ifi == nil {
			return invalid("Bind %s is not the address of a local interface", s.source)
		}
	}
	if s.ifi.Flags&net.FlagUp == 0 {
		return invalid("interface %s is down", s.ifi.Name)
	}
	return nil
}

func ipv4Addrs(ifi *net.Interface) []netip.Addr {
	as, err := ifi.Addrs()
	if err != nil {
		return nil
	}
	var out []netip.Addr
	for _, a := range as {
		var ip net.IP
		switch v := a.(type) {
		case *net.IPNet:
			ip = v.IP
		case *net.IPAddr:
			ip = v.IP
		}
		if addr, ok := netip.AddrFromSlice(ip); ok && addr.Unmap().Is4() {
			out = append(out, addr.Unmap())
		}
	}
	return out
}

// oversized returns which field of m is over its limit, or "".
func (s *settings) oversized(m *channel.Member) string {
	switch {
	case len(m.Payload) > s.MaxPayloadSize:
		return "payload"
	case len(m.Domain) > s.MaxDomainSize:
		return "domain"
	case len(m.Command) > s.MaxCommandSize:
		return "command"
	case len(m.Host) > s.MaxHostSize:
		return "host"
	}
	return ""
}
