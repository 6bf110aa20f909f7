package netbench

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/gotribes/tribes/internal/testenv"
	"github.com/gotribes/tribes/internal/testutil"
)

// prefix starts the name of every namespace a bench creates: "gtb<pid>-<n>-…", so that
// stale ones of dead test processes can be recognised and removed.
const prefix = "gtb"

var seq atomic.Int32

// Available reports whether network namespaces can be used here, and why not.
func Available() (reason string, ok bool) {
	if runtime.GOOS != "linux" {
		return "network namespaces need Linux", false
	}
	if os.Geteuid() != 0 {
		return "needs root (network namespaces, veths, iptables)", false
	}
	for _, tool := range []string{"ip", "iptables"} {
		if _, err := exec.LookPath(tool); err != nil {
			return tool + " not found: run scripts/install-test-deps.sh (iproute2, iptables)", false
		}
	}
	return "", true
}

// Require skips t (with the reason) where namespaces cannot be used.
func Require(t testutil.TB) {
	t.Helper()
	if reason, ok := Available(); !ok {
		testenv.Missing(t, "netbench: %s", reason)
	}
}

// Bench is a set of hosts, each a network namespace with one veth on a bridge that lives
// in a namespace of its own (the hub): nothing of it touches the machine's own network
// namespace, and everything goes away with the namespaces.
type Bench struct {
	Hosts []*Host
	// Subnet is the hosts' subnet (it exists only inside the bench's namespaces).
	Subnet netip.Prefix

	t    testutil.TB
	name string
	hub  string
	mu   sync.Mutex
	ns   []string
}

// Host is one namespace of a bench.
type Host struct {
	Index int
	NS    string
	Addr  netip.Addr
	b     *Bench
}

// New creates n hosts on a bridge, each with the address 10.X.Y.(i+1)/24 on its eth0, a
// multicast route on eth0, and empty fault-injection chains. Everything is removed at the
// end of the test, also when it fails.
func New(t testutil.TB, n int) *Bench {
	t.Helper()
	Require(t)
	removeStale()
	id := seq.Add(1)
	b := &Bench{t: t, name: fmt.Sprintf("%s%d-%d", prefix, os.Getpid(), id)}
	b.Subnet = netip.MustParsePrefix(fmt.Sprintf("10.%d.%d.0/24", 100+os.Getpid()%100, id%250))
	t.Cleanup(b.Close)
	b.hub = b.name + "-hub"
	if err := b.addNS(b.hub); err != nil {
		testenv.Missing(t, "netbench: cannot create a network namespace here: %v", err)
	}
	b.must("ip", "-n", b.hub, "link", "set", "lo", "up")
	b.must("ip", "-n", b.hub, "link", "add", "br0", "type", "bridge", "mcast_snooping", "0")
	b.must("ip", "-n", b.hub, "link", "set", "br0", "up")
	base := b.Subnet.Addr().As4()
	for i := range n {
		h := &Host{Index: i, NS: fmt.Sprintf("%s-h%d", b.name, i), b: b}
		a := base
		a[3] = byte(i + 1)
		h.Addr = netip.AddrFrom4(a)
		if err := b.addNS(h.NS); err != nil {
			t.Fatalf("%v", err)
		}
		veth := fmt.Sprintf("v%d", i)
		b.must("ip", "-n", h.NS, "link", "set", "lo", "up")
		b.must("ip", "-n", b.hub, "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", h.NS)
		b.must("ip", "-n", b.hub, "link", "set", veth, "master", "br0", "up")
		b.must("ip", "-n", h.NS, "addr", "add", h.Addr.String()+"/24", "dev", "eth0")
		b.must("ip", "-n", h.NS, "link", "set", "eth0", "up")
		b.must("ip", "-n", h.NS, "route", "add", "224.0.0.0/4", "dev", "eth0")
		for _, c := range []string{"NETBENCH", "NETLOSS"} {
			h.must("iptables", "-N", c)
		}
		h.must("iptables", "-I", "INPUT", "-j", "NETBENCH")
		h.must("iptables", "-I", "OUTPUT", "-j", "NETBENCH")
		h.must("iptables", "-I", "INPUT", "-i", "eth0", "-j", "NETLOSS")
		b.Hosts = append(b.Hosts, h)
	}
	return b
}

func (b *Bench) addNS(name string) error {
	if _, err := run("ip", "netns", "add", name); err != nil {
		return err
	}
	b.mu.Lock()
	b.ns = append(b.ns, name)
	b.mu.Unlock()
	return nil
}

func (b *Bench) must(argv ...string) {
	b.t.Helper()
	if _, err := run(argv...); err != nil {
		b.t.Fatalf("%v", err)
	}
}

// Close removes the namespaces (their veths and the bridge go with them). The processes
// started with Host.Start are killed first by their own cleanups.
func (b *Bench) Close() {
	b.mu.Lock()
	ns := b.ns
	b.ns = nil
	b.mu.Unlock()
	for i := len(ns) - 1; i >= 0; i-- {
		if _, err := run("ip", "netns", "del", ns[i]); err != nil {
			b.t.Logf("netbench: %v", err)
		}
	}
}

// removeStale deletes namespaces left by test processes that no longer exist.
func removeStale() {
	out, err := run("ip", "netns", "list")
	if err != nil {
		return
	}
	for _, line := range strings.Split(out, "\n") {
		name, _, _ := strings.Cut(strings.TrimSpace(line), " ")
		rest, ok := strings.CutPrefix(name, prefix)
		if !ok {
			continue
		}
		pidStr, _, ok := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidStr)
		if !ok || err != nil || pid == os.Getpid() {
			continue
		}
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err == nil {
			continue
		}
		_, _ = run("ip", "netns", "del", name)
	}
}

// Exec returns argv run inside the host's namespace.
func (h *Host) Exec(argv ...string) []string {
	return append([]string{"ip", "netns", "exec", h.NS}, argv...)
}

func (h *Host) must(argv ...string) {
	h.b.t.Helper()
	h.b.must(h.Exec(argv...)...)
}

// Start runs argv inside the host's namespace as a Proc.
func (h *Host) Start(t testutil.TB, name string, opts ProcOptions, argv ...string) *Proc {
	t.Helper()
	return StartProc(t, name, opts, h.Exec(argv...)...)
}

// Partition cuts every link between the hosts of a and those of c, both ways (unicast and
// the multicast they send), with DROP rules in each host's NETBENCH chain.
func (b *Bench) Partition(a, c []*Host) {
	b.t.Helper()
	for _, x := range a {
		for _, y := range c {
			for _, pair := range [][2]*Host{{x, y}, {y, x}} {
				pair[0].must("iptables", "-A", "NETBENCH", "-s", pair[1].Addr.String(), "-j", "DROP")
				pair[0].must("iptables", "-A", "NETBENCH", "-d", pair[1].Addr.String(), "-j", "DROP")
			}
		}
	}
}

// Heal removes every partition.
func (b *Bench) Heal() {
	b.t.Helper()
	for _, h := range b.Hosts {
		h.must("iptables", "-F", "NETBENCH")
	}
}

// Loss drops each packet arriving at every host with probability p (iptables statistic
// match); Loss(0) ends it.
func (b *Bench) Loss(p float64) {
	b.t.Helper()
	for _, h := range b.Hosts {
		h.must("iptables", "-F", "NETLOSS")
		if p > 0 {
			h.must("iptables", "-A", "NETLOSS", "-m", "statistic", "--mode", "random",
				"--probability", strconv.FormatFloat(p, 'f', 4, 64), "-j", "DROP")
		}
	}
}

// Dropped returns how many packets the loss rules of each host dropped so far.
func (b *Bench) Dropped() (total int) {
	for _, h := range b.Hosts {
		out, err := run(h.Exec("iptables", "-L", "NETLOSS", "-v", "-x", "-n")...)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(out, "\n") {
			f := strings.Fields(line)
			if len(f) > 2 && f[2] == "DROP" {
				n, _ := strconv.Atoi(f[0])
				total += n
			}
		}
	}
	return total
}
