package cloud

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"testing"

	"github.com/gotribes/tribes/internal/dnsmasq"
)

// TestDNSTruncatedAnswerIsLogged: a configured Resolver whose Dial dials UDP whatever
// network Go's resolver asks for gets, on Go's TCP attempt after a truncated UDP answer,
// the truncated answer again, which the resolver takes as it is: 75 or so of a name's
// 600 addresses, and nothing told the user (documented only). The provider now sees the
// answer's truncated flag on that attempt and logs a warning naming the name, once (then
// rate-limited: three fetches, one line), the fetch still giving the addresses that
// came; a Dial that dials what it is asked gets every address, and nothing is logged.
func TestDNSTruncatedAnswerIsLogged(t *testing.T) {
	const name, n = "tomcat-members", 600
	d := dnsmasq.Start(t, manyHosts(name, n))
	udpOnly := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var dialer net.Dialer
		return dialer.DialContext(ctx, "udp", d.Addr)
	}}
	var log lockedBuffer
	logger := slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelWarn}))
	p, err := NewDNS(Config{Provider: ProviderDNS, LookupEnv: NoEnv, LocalIP: "127.0.0.1", Logger: logger,
		DNS: DNSConfig{ServiceName: name, Resolver: udpOnly}})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		insts, err := p.Fetch(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(insts) == 0 || len(insts) >= n {
			t.Fatalf("%d addresses, want the truncated answer of a UDP connection (some, fewer than %d)", len(insts), n)
		}
	}
	text := logText(&log)
	if got := strings.Count(text, "DNS answer truncated"); got != 1 || !strings.Contains(text, name) {
		t.Fatalf("log %q: %d warnings of a truncated answer, want 1 naming %s", text, got, name)
	}

	// Through a Dial that dials the network it is asked: every address, nothing logged.
	var log2 lockedBuffer
	logger = slog.New(slog.NewTextHandler(&log2, &slog.HandlerOptions{Level: slog.LevelWarn}))
	q, err := NewDNS(Config{Provider: ProviderDNS, LookupEnv: NoEnv, LocalIP: "127.0.0.1", Logger: logger,
		DNS: DNSConfig{ServiceName: name, Resolver: d.Resolver()}})
	if err != nil {
		t.Fatal(err)
	}
	insts, err := q.Fetch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(insts) != n {
		t.Fatalf("%d addresses through TCP, want %d", len(insts), n)
	}
	if text := logText(&log2); text != "" {
		t.Fatalf("log %q for a whole answer, want nothing", text)
	}
}
