package cloud

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/gotribes/tribes/internal/dnsmasq"
)

// manyHosts6 is a hosts file listing n IPv6 addresses (fd00::x:y) under name.
func manyHosts6(name string, n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "fd00::%x:%x %s\n", 1+i/65535, 1+i%65535, name)
	}
	return b.String()
}

// TestDNSAAAAAnswerBoundIsOneTCPMessage: as TestDNSAnswerBoundIsOneTCPMessage for A
// records, the IPv6 addresses of a name come in one DNS message, at most 65535 bytes over
// TCP, and each AAAA record takes 28 bytes (the name compressed to 2, type, class, TTL,
// length, 16 address bytes): a name with more IPv6 addresses than fit gives those that
// fit, with no error (a warning logged): for a service's name in a cluster, 2338 of
// 3000. (No whole number of AAAA records makes exactly 65536 bytes with this name, which
// dnsmasq 2.90 would send as a length of 0: TestDNSAnswerFillingOneTCPMessageFails.)
func TestDNSAAAAAnswerBoundIsOneTCPMessage(t *testing.T) {
	const name, n = "tomcat.shop.svc.cluster.local", 3000
	header := 12 + (len(name) + 2) + 4 // header, question
	if (65536-header)%28 == 0 || (65536-header-11)%28 == 0 {
		t.Fatal("the name's AAAA records fill 65536 bytes")
	}
	d := dnsmasq.Start(t, manyHosts6(name, n))
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
	want := (65535 - header) / 28
	wantEDNS := (65535 - header - 11) / 28 // room for an EDNS0 record
	if len(insts) != want && len(insts) != wantEDNS {
		t.Fatalf("%d of %d addresses, want the %d AAAA records one DNS message over TCP holds", len(insts), n, want)
	}
	if text := logText(&log); !strings.Contains(text, "DNS answer truncated") {
		t.Errorf("log %q, want a warning of the truncated answer (TestDNSTruncatedAnswerIsLogged)", text)
	}
	for _, in := range insts {
		if !strings.Contains(in.IP, ":") {
			t.Fatalf("address %s listed, want IPv6 addresses only", in.IP)
		}
	}
}
