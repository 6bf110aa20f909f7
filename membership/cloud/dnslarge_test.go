package cloud

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/dnsmasq"
)

// manyHosts is a hosts file listing n IPv4 addresses (10.x.y.z) under name.
func manyHosts(name string, n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "10.%d.%d.%d %s\n", i/62500, (i/250)%250, 1+i%250, name)
	}
	return b.String()
}

// TestDNSListsEveryAddressOfALargeName: a name with 600 addresses (a large headless
// service) served by a real dnsmasq gave 75 members: Go's resolver asks over UDP with
// EDNS0 for at most 1232 bytes, dnsmasq answers with the records that fit (75 A
// records of 16 bytes) and sets the truncated flag, and the resolver asks again over
// TCP, but the resolver the tests used dialed UDP whatever network it was asked for, and
// Go takes a truncated answer that came on its "tcp" attempt as it is. Over TCP the
// whole answer comes: every address is a member.
func TestDNSListsEveryAddressOfALargeName(t *testing.T) {
	const n = 600
	d := dnsmasq.Start(t, "127.0.0.1 tomcat-members\n"+manyHosts("tomcat-members", n))
	s, err := New(Config{Provider: ProviderDNS, LookupEnv: NoEnv, LocalIP: "127.0.0.1",
		DNS: DNSConfig{ServiceName: "tomcat-members", Resolver: d.Resolver()}})
	if err != nil {
		t.Fatal(err)
	}
	insts, err := s.Provider().Fetch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(insts) != n+1 {
		t.Fatalf("the name resolves to %d addresses, want %d", len(insts), n+1)
	}
	if err := s.Start(context.Background(), channel.SvcMembership, localMember("127.0.0.1", 4000, AddressUniqueID(netip.MustParseAddr("127.0.0.1"))), &recorder{}); err != nil {
		t.Fatal(err)
	}
	defer s.Stop(context.Background(), channel.SvcMembership)
	if got := len(s.Members()); got != n {
		t.Errorf("%d members, want %d", got, n)
	}
}

// peerConn is a UDP connection that reports another peer address, as a connection of a
// network of the Dial's own reports an address of that network (a userspace network
// stack, a tunnel, another network namespace): the host's network reaches something
// else there, or nothing.
type peerConn struct {
	*net.UDPConn
	peer net.Addr
}

func (c peerConn) RemoteAddr() net.Addr { return c.peer }

// TestDNSDialsOnlyThroughTheConfiguredResolver: a configured Resolver's Dial that dials
// UDP whatever network Go's resolver asks for, through a network of its own, got, for
// Go's TCP attempt after a truncated answer, a TCP connection the provider dialed itself
// from the host's network to the peer address of the Dial's connection: there a service
// that is no DNS server of the Dial's (here a listener that closes what it accepts) was
// sent the query, and the fetch failed where the Dial's own connections gave an answer.
// The provider now asks only through the Dial configured: such a Dial gets the truncated
// answer (about 75 of 600 addresses, documented), and no connection is made elsewhere.
func TestDNSDialsOnlyThroughTheConfiguredResolver(t *testing.T) {
	const n = 600
	d := dnsmasq.Start(t, manyHosts("tomcat-members", n))
	elsewhere, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var accepted atomic.Int32
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := elsewhere.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			_ = c.Close()
		}
	}()
	peer := elsewhere.Addr().(*net.TCPAddr)
	ownNetwork := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var dialer net.Dialer
		c, err := dialer.DialContext(ctx, "udp", d.Addr)
		if err != nil {
			return nil, err
		}
		return peerConn{UDPConn: c.(*net.UDPConn), peer: &net.UDPAddr{IP: peer.IP, Port: peer.Port}}, nil
	}}
	p, err := NewDNS(Config{Provider: ProviderDNS, LookupEnv: NoEnv, LocalIP: "127.0.0.1",
		DNS: DNSConfig{ServiceName: "tomcat-members", Resolver: ownNetwork}})
	if err != nil {
		t.Fatal(err)
	}
	insts, fetchErr := p.Fetch(context.Background())
	// A connection the provider made completed its handshake before Fetch returned: it
	// is in the listener's queue, and Accept returns it at once.
	_ = elsewhere.(*net.TCPListener).SetDeadline(time.Now().Add(500 * time.Millisecond))
	<-done
	_ = elsewhere.Close()
	if got := accepted.Load(); got != 0 {
		t.Errorf("%d TCP connections to the peer address of the Dial's connection, made outside the Dial; want none", got)
	}
	if fetchErr != nil {
		t.Fatalf("fetch failed: %v; want the answer the configured Dial gets", fetchErr)
	}
	if len(insts) == 0 || len(insts) >= n {
		t.Fatalf("%d addresses, want the truncated answer of a UDP connection (some, fewer than %d)", len(insts), n)
	}
}

// TestDNSAnswerBoundIsOneTCPMessage: the addresses of a name come in one DNS message,
// at most 65535 bytes over TCP; each A record takes 16 bytes (the name compressed to 2,
// type, class, TTL, length, 4 address bytes). A name with more addresses than fit gives
// those that fit (dnsmasq truncates, and Go's resolver takes a truncated answer over
// TCP as it is, as glibc's does): for a service's name in a cluster, 4093 of 5000, and
// the provider logs a warning of the truncated answer (TestDNSTruncatedAnswerIsLogged).
// (The name is chosen so that no whole number of records makes exactly 65536 bytes:
// dnsmasq 2.90 then sends a length of 0 over TCP, which Go's resolver cannot parse, as
// it does for "tomcat-members" from 4094 addresses on.)
func TestDNSAnswerBoundIsOneTCPMessage(t *testing.T) {
	const name, n = "tomcat.shop.svc.cluster.local", 5000
	d := dnsmasq.Start(t, manyHosts(name, n))
	var log lockedBuffer
	p, err := NewDNS(Config{Provider: ProviderDNS, LookupEnv: NoEnv, LocalIP: "127.0.0.1",
		DNS:    DNSConfig{ServiceName: name, Resolver: d.Resolver()},
		Logger: slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		t.Fatal(err)
	}
	insts, err := p.Fetch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if text := logText(&log); !strings.Contains(text, "DNS answer truncated") {
		t.Errorf("log %q, want a warning of the truncated answer", text)
	}
	// Header 12 bytes, question: the name (a length byte per label, the labels, a final
	// zero), type and class.
	want := (65535 - 12 - (len(name) + 2) - 4) / 16
	if len(insts) != want && len(insts) != want-1 { // -1: room for an EDNS0 record
		t.Fatalf("%d of %d addresses, want the %d A records one DNS message over TCP holds", len(insts), n, want)
	}
}

// TestDNSAnswerFillingOneTCPMessageFails: what TestDNSAnswerBoundIsOneTCPMessage shows
// holds for the server's answer, not for every name: the docs said that a name with more
// addresses than one TCP message holds gives those that fit, with no error, but dnsmasq
// 2.90, when the records that fit make exactly 65536 bytes (for "tomcat-members" from
// 4094 addresses on: a 12-byte header, a 20-byte question, 4094 records of 16 bytes),
// sends a length of 0 over TCP, which Go's resolver cannot parse: the fetch fails with
// ErrFetch and gives no member. (The docs now say so.)
func TestDNSAnswerFillingOneTCPMessageFails(t *testing.T) {
	const name, n = "tomcat-members", 5000
	if 12+(len(name)+2)+4+16*4094 != 65536 {
		t.Fatal("the name's records do not fill 65536 bytes")
	}
	d := dnsmasq.Start(t, manyHosts(name, n))
	p, err := NewDNS(Config{Provider: ProviderDNS, LookupEnv: NoEnv, LocalIP: "127.0.0.1",
		DNS: DNSConfig{ServiceName: name, Resolver: d.Resolver()}})
	if err != nil {
		t.Fatal(err)
	}
	insts, err := p.Fetch(context.Background())
	if !errors.Is(err, ErrFetch) || len(insts) != 0 {
		t.Fatalf("%d addresses, err = %v; want ErrFetch (dnsmasq 2.90 sends a TCP length of 0)", len(insts), err)
	}
}
