package cloud

import (
	"context"
	"fmt"
	"net"
	"strings"
	"time"
)

// DNS resolves a name to the members' addresses, as Tomcat's DNSMembershipProvider: in
// Kubernetes, a headless service (clusterIP: None) whose selector matches the pods.
// Every address is an instance whose id is AddressUniqueID, with no creation time.
type DNS struct {
	name     string
	resolver *net.Resolver
	timeout  time.Duration // ConnectTimeout + ReadTimeout
}

// NewDNS returns the DNS provider of cfg (resolved as New does).
func NewDNS(cfg Config) (*DNS, error) {
	c, err := cfg.Resolved()
	if err != nil {
		return nil, err
	}
	return newDNS(c), nil
}

func newDNS(c Config) *DNS {
	r := c.DNS.Resolver
	if r.Dial != nil {
		r = &net.Resolver{PreferGo: r.PreferGo, StrictErrors: r.StrictErrors, Dial: tcpWhenAsked(r.Dial)}
	}
	return &DNS{name: c.DNS.ServiceName, resolver: r, timeout: c.ConnectTimeout + c.ReadTimeout}
}

// tcpWhenAsked wraps a Resolver's Dial that may dial UDP whatever network Go's resolver
// asks for (a usual way of pointing it at a DNS server). Go's resolver asks over UDP
// for at most 1232 bytes; a larger answer comes truncated (about 75 IPv4 addresses),
// and the resolver asks again over TCP, but takes the answer of that attempt as it is,
// truncated or not: on a UDP connection it is truncated again. When asked for TCP and
// given a UDP connection, the wrapper dials TCP to the same server instead; if that
// fails it keeps the UDP connection (the truncated answer, as before).
func tcpWhenAsked(dial func(ctx context.Context, network, address string) (net.Conn, error)) func(context.Context, string, string) (net.Conn, error) {
	return func(ctx context.Context, network, address string) (net.Conn, error) {
		c, err := dial(ctx, network, address)
		if err != nil || !strings.HasPrefix(network, "tcp") {
			return c, err
		}
		if _, packet := c.(net.PacketConn); !packet || c.RemoteAddr() == nil {
			return c, nil
		}
		var d net.Dialer
		tc, err := d.DialContext(ctx, "tcp", c.RemoteAddr().String())
		if err != nil {
			return c, nil
		}
		_ = c.Close()
		return tc, nil
	}
}

// Name is the name resolved.
func (d *DNS) Name() string { return d.name }

// Fetch implements Provider.
func (d *DNS) Fetch(ctx context.Context) ([]Instance, error) {
	if d.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d.timeout)
		defer cancel()
	}
	addrs, err := d.resolver.LookupNetIP(ctx, "ip", d.name)
	if err != nil {
		return nil, fmt.Errorf("%w: resolving %s: %v", ErrFetch, d.name, err)
	}
	out := make([]Instance, 0, len(addrs))
	for _, a := range addrs {
		a = a.Unmap().WithZone("")
		out = append(out, Instance{IP: JavaHostAddress(a), UniqueID: AddressUniqueID(a)})
	}
	return out, nil
}
