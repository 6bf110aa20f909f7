package cloud

import (
	"context"
	"net"
	"net/netip"
	"testing"

	"golang.org/x/net/dns/dnsmessage"
)

// TestDNSFollowsTheResolverAfterNew: the truncation watch copied the configured
// Resolver's Dial (and PreferGo, StrictErrors) at New, so a change of the resolver made
// afterwards, as when it was used directly (before the watch), was ignored: fetches kept
// asking the first server. The provider now reads the resolver at each fetch: after its
// Dial is pointed at another server, the next fetch gives that server's address.
func TestDNSFollowsTheResolverAfterNew(t *testing.T) {
	const name = "members.live.test."
	serving := func(a string) *fakeDNS {
		addr := netip.MustParseAddr(a)
		return startFakeDNS(t, func(_ string, _ int, q dnsmessage.Message) [][]byte {
			return [][]byte{reply(t, q, 0, "", false, addr)}
		})
	}
	first, second := serving("127.0.0.7"), serving("127.0.0.8")
	to := func(f *fakeDNS) func(ctx context.Context, network, _ string) (net.Conn, error) {
		return func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			if network == "udp" {
				return d.DialContext(ctx, "udp", f.udp.LocalAddr().String())
			}
			return d.DialContext(ctx, "tcp", f.tcp.Addr().String())
		}
	}
	r := &net.Resolver{PreferGo: true, Dial: to(first)}
	p, err := NewDNS(Config{Provider: ProviderDNS, LookupEnv: NoEnv, LocalIP: "127.0.0.1",
		DNS: DNSConfig{ServiceName: name, Resolver: r}})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"127.0.0.7", "127.0.0.8"} {
		insts, err := p.Fetch(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(insts) != 1 || insts[0].IP != want {
			t.Fatalf("instances %+v, want %s alone (the server the resolver's Dial reaches now)", insts, want)
		}
		r.Dial = to(second) // between two fetches
	}
}
