package cloud

import (
	"context"
	"encoding/binary"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/gotribes/tribes/internal/dnsmasq"
	"github.com/gotribes/tribes/internal/testutil"
)

// TestDNSTruncatedAnswerIsLogged: a configured Resolver whose Dial dials UDP whatever
// network Go's resolver asks for gets, on Go's TCP attempt after a truncated UDP answer,
// the truncated answer again, which the resolver takes as it is: 75 or so of a name's
// 600 addresses, and nothing told the user (documented only). The provider now sees the
// answer's truncated flag on that attempt and logs a warning naming the name, once (then
// rate-limited: three fetches, one line), the fetch still giving the addresses that
// came, and each such fetch is counted (TruncatedAnswers); a Dial that dials what it is
// asked gets every address, and nothing is logged or counted.
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
	if got := p.TruncatedAnswers(); got != 3 {
		t.Fatalf("TruncatedAnswers %d after three truncated fetches, want 3", got)
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
	if got := q.TruncatedAnswers(); got != 0 {
		t.Fatalf("TruncatedAnswers %d for a whole answer, want 0", got)
	}
}

// TestDNSTruncationWatchedWithoutADial: a Resolver without a Dial (net.DefaultResolver,
// Config's default) was left unwatched, so an answer truncated on Go's TCP attempt (a
// name with more addresses than one TCP message holds) went unlogged through it. The
// provider's resolver now dials as Go's resolver does, with a zero net.Dialer, and
// watches those connections too: its TCP connection to the test dnsmasq, asked for the
// AAAA records of a name with 3000 IPv6 addresses, marks the fetch's flag.
func TestDNSTruncationWatchedWithoutADial(t *testing.T) {
	const name, n = "tomcat.shop.svc.cluster.local", 3000
	r := watchTruncation(&net.Resolver{PreferGo: true})
	if r.Dial == nil || !r.PreferGo {
		t.Fatalf("the watched resolver: Dial %v, PreferGo %v; want a Dial, PreferGo kept", r.Dial != nil, r.PreferGo)
	}
	d := dnsmasq.Start(t, manyHosts6(name, n))
	var truncated atomic.Bool
	ctx, cancel := context.WithTimeout(context.WithValue(context.Background(), truncKey{}, &truncated), testutil.WaitLimit)
	defer cancel()
	c, err := r.Dial(ctx, "tcp", d.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, ok := c.(net.PacketConn); ok {
		t.Fatal("a TCP connection watched as a packet connection")
	}
	_ = c.SetDeadline(time.Now().Add(testutil.WaitLimit))
	b := dnsmessage.NewBuilder(make([]byte, 2, 512), dnsmessage.Header{ID: 1, RecursionDesired: true})
	if err := b.StartQuestions(); err != nil {
		t.Fatal(err)
	}
	if err := b.Question(dnsmessage.Question{Name: dnsmessage.MustNewName(name + "."), Type: dnsmessage.TypeAAAA, Class: dnsmessage.ClassINET}); err != nil {
		t.Fatal(err)
	}
	q, err := b.Finish()
	if err != nil {
		t.Fatal(err)
	}
	binary.BigEndian.PutUint16(q, uint16(len(q)-2))
	if _, err := c.Write(q); err != nil {
		t.Fatal(err)
	}
	var l [2]byte
	if _, err := io.ReadFull(c, l[:]); err != nil {
		t.Fatal(err)
	}
	answer := make([]byte, binary.BigEndian.Uint16(l[:]))
	if _, err := io.ReadFull(c, answer); err != nil {
		t.Fatal(err)
	}
	var h dnsmessage.Parser
	hdr, err := h.Start(answer)
	if err != nil || !hdr.Truncated {
		t.Fatalf("dnsmasq's answer: %+v, %v; want a truncated one", hdr, err)
	}
	if !truncated.Load() {
		t.Fatal("the truncated answer on a TCP connection of a resolver without a Dial was not seen")
	}
}
