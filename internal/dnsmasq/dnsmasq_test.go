package dnsmasq

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/gotribes/tribes/internal/freeport"
	"github.com/gotribes/tribes/internal/testenv"
	"github.com/gotribes/tribes/internal/testutil"
)

func lookup(t *testing.T, s *Server, name string) []netip.Addr {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testutil.WaitLimit)
	defer cancel()
	addrs, err := s.Resolver().LookupNetIP(ctx, "ip4", name)
	if err != nil {
		t.Fatalf("lookup %s: %v", name, err)
	}
	return addrs
}

// TestStartAnswersFromTheHostsFile: Start returns a dnsmasq that answers from the hosts
// file, and after Write and Reload from the new one.
func TestStartAnswersFromTheHostsFile(t *testing.T) {
	s := Start(t, "127.0.0.7 a.gotribes.test\n")
	if got := lookup(t, s, "a.gotribes.test"); len(got) != 1 || got[0] != netip.MustParseAddr("127.0.0.7") {
		t.Fatalf("a.gotribes.test = %v, want [127.0.0.7]", got)
	}
	s.Write(t, "127.0.0.8 a.gotribes.test\n")
	s.Reload(t)
	testutil.Eventually(t, testutil.WaitLimit, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), testutil.WaitLimit)
		defer cancel()
		got, err := s.Resolver().LookupNetIP(ctx, "ip4", "a.gotribes.test")
		if err != nil || len(got) != 1 || got[0] != netip.MustParseAddr("127.0.0.8") {
			return fmt.Errorf("a.gotribes.test = %v, %v; want [127.0.0.8]", got, err)
		}
		return nil
	})
}

// TestStartWaitsForTheWholeHostsFile: dnsmasq reads a hosts file before it answers, in
// time quadratic in the addresses of one name (seconds for thousands, many more on a
// loaded machine: the start once timed out at load 25 when it waited 10 s); when Start
// returns, every address of a large name is served.
func TestStartWaitsForTheWholeHostsFile(t *testing.T) {
	const n = 2000 // fits one TCP answer (about 4090 do)
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "10.1.%d.%d many.gotribes.test\n", i/250, 1+i%250)
	}
	s := Start(t, b.String())
	if got := lookup(t, s, "many.gotribes.test"); len(got) != n {
		t.Fatalf("many.gotribes.test has %d addresses, want %d", len(got), n)
	}
}

// TestWaitAnsweringSeesPortTaken: a dnsmasq whose port is taken exits; the wait reports
// that at once (Start then tries another port) instead of waiting StartLimit.
func TestWaitAnsweringSeesPortTaken(t *testing.T) {
	bin, err := exec.LookPath("dnsmasq")
	if err != nil {
		testenv.Missing(t, "needs dnsmasq: run scripts/install-test-deps.sh")
		return
	}
	ports, release, err := freeport.Pick(1, freeport.UDP|freeport.TCP)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0]))
	taken, err := net.ListenPacket("udp", addr) // not dnsmasq: it never answers
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	s := &Server{Addr: addr, hosts: t.TempDir() + "/hosts"}
	s.Write(t, "")
	p, err := start(bin, ports[0], s.hosts)
	if err != nil {
		t.Fatal(err)
	}
	defer p.stop()
	ctx, cancel := context.WithTimeout(context.Background(), StartLimit)
	defer cancel()
	err = s.waitAnswering(ctx, p)
	if !errors.Is(err, errPortTaken) { // not the limit's "no answer"
		t.Fatalf("wait = %v, want errPortTaken\n%s", err, p.log.String())
	}
}
