package cloud

import (
	"context"
	"fmt"
	"net"
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
	// The resolver is used as configured: its Dial is the only way to its DNS server
	// (TestDNSDialsOnlyThroughTheConfiguredResolver).
	return &DNS{name: c.DNS.ServiceName, resolver: c.DNS.Resolver, timeout: c.ConnectTimeout + c.ReadTimeout}
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
