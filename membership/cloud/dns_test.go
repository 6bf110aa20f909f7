package cloud

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/testenv"
	"github.com/gotribes/tribes/internal/testutil"
)

// dnsmasq is a dnsmasq process answering from a hosts file, on a loopback port.
type dnsmasq struct {
	addr  string
	hosts string
	cmd   *exec.Cmd
}

// startDnsmasq starts dnsmasq on a free 127.0.0.1 port, answering with hosts (a hosts
// file's lines) and nothing else, and stops it by PID at the end of the test.
func startDnsmasq(t *testing.T, hosts string) *dnsmasq {
	t.Helper()
	bin, err := exec.LookPath("dnsmasq")
	if err != nil {
		testenv.Missing(t, "needs dnsmasq: run scripts/install-test-deps.sh")
		return nil
	}
	d := &dnsmasq{hosts: filepath.Join(t.TempDir(), "hosts")}
	d.write(t, hosts)
	for attempt := 0; ; attempt++ {
		port := freeUDPPort(t)
		d.addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		d.cmd = exec.Command(bin, "--no-daemon", "--port", strconv.Itoa(port), "--listen-address", "127.0.0.1",
			"--bind-interfaces", "--no-resolv", "--no-hosts", "--addn-hosts", d.hosts, "--user=root",
			"--pid-file=", "--log-facility=-", "--local-ttl=0")
		d.cmd.Stdout, d.cmd.Stderr = os.Stderr, os.Stderr
		if err := d.cmd.Start(); err != nil {
			t.Fatalf("dnsmasq: %v", err)
		}
		exited := make(chan error, 1)
		go func() { exited <- d.cmd.Wait() }()
		proc := d.cmd.Process
		stop := func() {
			_ = proc.Signal(syscall.SIGTERM)
			select {
			case err := <-exited:
				exited <- err
			case <-time.After(5 * time.Second):
				_ = proc.Kill()
				exited <- <-exited
			}
		}
		err := d.waitAnswering(exited)
		if err == nil {
			t.Cleanup(stop)
			return d
		}
		stop() // e.g. the port was taken in between
		if attempt == 3 {
			t.Fatalf("dnsmasq on %s: %v", d.addr, err)
		}
	}
}

func (d *dnsmasq) waitAnswering(exited chan error) error {
	ctx, cancel := context.WithTimeout(context.Background(), testutil.WaitLimit)
	defer cancel()
	return testutil.Poll(ctx, func() error {
		select {
		case err := <-exited:
			exited <- err
			return fmt.Errorf("exited: %v", err)
		default:
		}
		if _, err := d.resolver().LookupNetIP(ctx, "ip4", readyName); err != nil {
			return fmt.Errorf("no answer yet: %v", err)
		}
		return nil
	})
}

// readyName is always in the hosts file: it answers once dnsmasq runs.
const readyName = "ready.gotribes.test"

func (d *dnsmasq) write(t *testing.T, hosts string) {
	t.Helper()
	if err := os.WriteFile(d.hosts, []byte(hosts+"127.0.0.254 "+readyName+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// reload makes dnsmasq read the hosts file again.
func (d *dnsmasq) reload(t *testing.T) {
	t.Helper()
	if err := d.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
}

// resolver asks this dnsmasq only, over UDP.
func (d *dnsmasq) resolver() *net.Resolver {
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var dl net.Dialer
		return dl.DialContext(ctx, "udp", d.addr)
	}}
}

func freeUDPPort(t *testing.T) int {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// TestServiceDNS: the DNS provider resolves the name with a real DNS server (dnsmasq);
// every address but the local one is a member with the digest of its address as id and
// no alive time, and the members follow the records when they change.
func TestServiceDNS(t *testing.T) {
	d := startDnsmasq(t, "127.0.0.1 tomcat-members\n127.0.0.5 tomcat-members\n127.0.0.6 tomcat-members\n127.0.0.9 other\n")
	s, err := New(Config{Provider: ProviderDNS, LookupEnv: NoEnv, LocalIP: "127.0.0.1", ExpirationTime: 100 * time.Millisecond,
		DNS: DNSConfig{ServiceName: "tomcat-members", Resolver: d.resolver()}})
	if err != nil {
		t.Fatal(err)
	}
	id, err := s.LocalUniqueID(context.Background())
	if err != nil || id != md5Of("127.0.0.1") {
		t.Fatalf("LocalUniqueID %x, %v", id, err)
	}
	rec := &recorder{}
	if err := s.Start(context.Background(), channel.SvcMembership, localMember("127.0.0.1", 4000, id), rec); err != nil {
		t.Fatal(err)
	}
	defer s.Stop(context.Background(), channel.SvcMembership)
	member := func(ip string) channel.Member {
		m := localMember(ip, 4000, md5Of(ip))
		m.AliveTime = -1
		return m
	}
	waitMembers(t, s, member("127.0.0.5"), member("127.0.0.6"))
	for _, m := range s.Members() {
		if m.AliveTime != -1 {
			t.Errorf("alive time %d, want -1", m.AliveTime)
		}
	}
	if got, ok := s.ListedLocalID(); !ok || got != id {
		t.Errorf("ListedLocalID %x, %v", got, ok)
	}

	d.write(t, "127.0.0.1 tomcat-members\n127.0.0.5 tomcat-members\n127.0.0.7 tomcat-members\n")
	d.reload(t)
	waitMembers(t, s, member("127.0.0.5"), member("127.0.0.7"))
	want := []string{"+" + member("127.0.0.5").String(), "+" + member("127.0.0.6").String(),
		"+" + member("127.0.0.7").String(), "-" + member("127.0.0.6").String()}
	got := rec.get()
	if len(got) != 4 || !sameSet(got[:2], want[:2]) || !sameSet(got[2:], want[2:]) {
		t.Errorf("events %v, want %v", got, want)
	}

	// The name stops resolving: every member expires.
	d.write(t, "127.0.0.9 other\n")
	d.reload(t)
	waitMembers(t, s)
	_ = netip.Addr{}
}

func sameSet(a, b []string) bool {
	m := map[string]int{}
	for _, s := range a {
		m[s]++
	}
	for _, s := range b {
		m[s]--
	}
	for _, n := range m {
		if n != 0 {
			return false
		}
	}
	return len(a) == len(b)
}
