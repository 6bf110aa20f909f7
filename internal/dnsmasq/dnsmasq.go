// Package dnsmasq runs a real DNS server (dnsmasq) for tests: on a free 127.0.0.1 port,
// answering only from a hosts file the test writes and changes, stopped by PID at the end
// of the test.
package dnsmasq

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/gotribes/tribes/internal/freeport"
	"github.com/gotribes/tribes/internal/testenv"
	"github.com/gotribes/tribes/internal/testutil"
)

// ReadyName is always in the hosts file (at 127.0.0.254): it resolves once dnsmasq
// answers.
const ReadyName = "ready.gotribes.test"

// Server is a running dnsmasq.
type Server struct {
	// Addr is the UDP and TCP address it answers on ("127.0.0.1:port").
	Addr  string
	hosts string
	proc  *os.Process
}

// Start starts dnsmasq answering with hosts (lines of a hosts file: "address name"),
// waits until it answers and registers its stop. It skips t without dnsmasq (fails
// under GOTRIBES_NO_SKIP=1, see internal/testenv).
func Start(t *testing.T, hosts string) *Server {
	t.Helper()
	bin, err := exec.LookPath("dnsmasq")
	if err != nil {
		testenv.Missing(t, "needs dnsmasq: run scripts/install-test-deps.sh")
		return nil
	}
	s := &Server{hosts: filepath.Join(t.TempDir(), "hosts")}
	s.Write(t, hosts)
	var log bytes.Buffer
	for attempt := 0; ; attempt++ {
		ports, release, err := freeport.Pick(1, freeport.UDP|freeport.TCP) // dnsmasq serves both
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(release)
		port := ports[0]
		s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		cmd := exec.Command(bin, "--no-daemon", "--port", strconv.Itoa(port), "--listen-address", "127.0.0.1",
			"--bind-interfaces", "--no-resolv", "--no-hosts", "--addn-hosts", s.hosts, "--user=root",
			"--pid-file=", "--log-facility=-", "--local-ttl=0")
		log.Reset()
		cmd.Stdout, cmd.Stderr = &log, &log
		if err := cmd.Start(); err != nil {
			t.Fatalf("dnsmasq: %v", err)
		}
		s.proc = cmd.Process
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		stop := func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case err := <-exited:
				exited <- err
			case <-time.After(5 * time.Second):
				_ = cmd.Process.Kill()
				exited <- <-exited
			}
		}
		err = s.waitAnswering(exited)
		if err == nil {
			t.Cleanup(stop)
			return s
		}
		stop() // e.g. the port was taken in between
		if attempt == 3 {
			t.Fatalf("dnsmasq on %s: %v\n%s", s.Addr, err, log.String())
		}
	}
}

func (s *Server) waitAnswering(exited chan error) error {
	ctx, cancel := context.WithTimeout(context.Background(), testutil.WaitLimit)
	defer cancel()
	return testutil.Poll(ctx, func() error {
		select {
		case err := <-exited:
			exited <- err
			return fmt.Errorf("exited: %v", err)
		default:
		}
		if _, err := s.Resolver().LookupNetIP(ctx, "ip4", ReadyName); err != nil {
			return fmt.Errorf("no answer yet: %v", err)
		}
		return nil
	})
}

// Write replaces the hosts file (ReadyName is added); Reload makes dnsmasq read it.
func (s *Server) Write(t testing.TB, hosts string) {
	t.Helper()
	if err := os.WriteFile(s.hosts, []byte(hosts+"127.0.0.254 "+ReadyName+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// Reload sends dnsmasq SIGHUP, which makes it read the hosts file again.
func (s *Server) Reload(t testing.TB) {
	t.Helper()
	if err := s.proc.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
}

// Resolver asks this dnsmasq only: over UDP, and over TCP when Go's resolver asks again
// after a truncated answer (it dials the network the resolver asks for: a UDP
// connection for its TCP attempt would get the truncated answer again, which the
// resolver then takes as it is).
func (s *Server) Resolver() *net.Resolver {
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, s.Addr)
	}}
}
