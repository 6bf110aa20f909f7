// Package dnsmasq runs a real DNS server (dnsmasq) for tests: on a free 127.0.0.1 port,
// answering only from a hosts file the test writes and changes, stopped by PID at the end
// of the test.
package dnsmasq

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
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

// StartLimit bounds the wait for a started dnsmasq to answer. It is long because dnsmasq
// reads its whole hosts file before it answers anything, in a time that grows with the
// square of one name's addresses: Start took 1.2 s with 2500 addresses of one name and
// 2.4 to 4.1 s with 5000 (2026-12-07, -race, the machine's load about 5); a machine at
// load 25 with 2 cores gives dnsmasq a tenth of a core or less, which the old 10 s limit
// did not cover.
const StartLimit = 60 * time.Second

// queryLimit bounds one readiness query: one sent before dnsmasq bound its port, or lost,
// is sent again after it instead of waiting the resolver's own timeout (resolv.conf's,
// 5 s by default).
const queryLimit = 500 * time.Millisecond

// startAttempts bounds the ports tried when dnsmasq finds its port taken (the port is
// reserved against this project's other tests, see internal/freeport, but not against
// every other program).
const startAttempts = 4

// Start starts dnsmasq answering with hosts (lines of a hosts file: "address name"),
// waits until it answers (up to StartLimit; a port found taken is replaced by another)
// and registers its stop. It skips t without dnsmasq (fails under GOTRIBES_NO_SKIP=1,
// see internal/testenv).
func Start(t *testing.T, hosts string) *Server {
	t.Helper()
	bin, err := exec.LookPath("dnsmasq")
	if err != nil {
		testenv.Missing(t, "needs dnsmasq: run scripts/install-test-deps.sh")
		return nil
	}
	s := &Server{hosts: filepath.Join(t.TempDir(), "hosts")}
	s.Write(t, hosts)
	ctx, cancel := context.WithTimeout(context.Background(), StartLimit)
	defer cancel()
	for attempt := 1; ; attempt++ {
		ports, release, err := freeport.Pick(1, freeport.UDP|freeport.TCP) // dnsmasq serves both
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(release)
		s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0]))
		p, err := start(bin, ports[0], s.hosts)
		if err != nil {
			t.Fatalf("dnsmasq: %v", err)
		}
		s.proc = p.cmd.Process
		err = s.waitAnswering(ctx, p)
		if err == nil {
			t.Cleanup(p.stop)
			return s
		}
		p.stop()
		if errors.Is(err, errPortTaken) && attempt < startAttempts {
			continue
		}
		t.Fatalf("dnsmasq on %s (attempt %d): %v\n%s", s.Addr, attempt, err, p.log.String())
	}
}

// errPortTaken: dnsmasq exited because its port was in use.
var errPortTaken = errors.New("port taken")

type process struct {
	cmd    *exec.Cmd
	log    testutil.Buffer
	exited chan struct{} // closed once cmd.Wait returned
	err    error         // cmd.Wait's, once exited is closed
}

func start(bin string, port int, hosts string) (*process, error) {
	// --conf-file=/dev/null: nothing from the machine's /etc/dnsmasq.conf (Debian's
	// package installs one, with a conf-dir an administrator may fill).
	cmd := exec.Command(bin, "--conf-file=/dev/null", "--no-daemon",
		"--port", strconv.Itoa(port), "--listen-address", "127.0.0.1",
		"--bind-interfaces", "--no-resolv", "--no-hosts", "--addn-hosts", hosts, "--user=root",
		"--pid-file=", "--log-facility=-", "--local-ttl=0")
	p := &process{cmd: cmd, exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = &p.log, &p.log
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

// stop ends the process (SIGTERM, SIGKILL after 5 s) and waits for it.
func (p *process) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// waitAnswering waits until dnsmasq answers for ReadyName, which it does only once it has
// read the hosts file, or until it exits or ctx ends.
func (s *Server) waitAnswering(ctx context.Context, p *process) error {
	r := s.Resolver()
	var last error
	for wait := time.Millisecond; ; wait = min(2*wait, 50*time.Millisecond) {
		qctx, cancel := context.WithTimeout(ctx, queryLimit)
		_, err := r.LookupNetIP(qctx, "ip4", ReadyName)
		cancel()
		if err == nil {
			return nil
		}
		last = err
		select {
		case <-p.exited:
			if strings.Contains(p.log.String(), "Address already in use") {
				return fmt.Errorf("%w: exited: %v", errPortTaken, p.err)
			}
			return fmt.Errorf("exited: %v", p.err)
		case <-ctx.Done():
			return fmt.Errorf("no answer after %v: %w", StartLimit, last)
		case <-time.After(wait):
		}
	}
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
