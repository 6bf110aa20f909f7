package mcastinterop_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/gotribes/tribes/internal/netbench"
)

// fastCrashStack probes every member over TCP every 200 ms: a crashed process (its kernel
// refuses connections to its port) is dropped long before the multicast drop time, while a
// frozen one (its kernel still accepts) is still left to the drop time.
const fastCrashStack = "ping(useThread=true;interval=200),tcpfailure(connectTimeout=200)"

// fastCrashDrop is the nodes' multicast drop time in TestFastCrashDetection: far longer
// than the wait for the removal.
const fastCrashDrop = time.Minute

// TestFastCrashDetection: 3 hosts whose nodes run fastCrashStack; one is killed with SIGKILL
// and must be gone from the others through the TCP check, not the multicast expiry. The
// drop time is raised to fastCrashDrop so that expiry cannot be what removed it (whatever
// the machine's load); the detection time is logged for docs/benchmarks.md (and checked
// against the default drop time with GOTRIBES_BENCH_STRICT=1).
func TestFastCrashDetection(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-host bench")
	}
	const hosts = 3
	b := netbench.New(t, hosts)
	group, port := netbench.Group(t.Name())
	bin := netbench.Tribesdemo(t)
	c := &cluster{t: t, kind: "go-fast-crash", b: b, group: group, port: port, bin: bin,
		nodes: make([]*benchNode, hosts)}
	c.argv = func(h *netbench.Host) []string {
		return []string{bin, "node", "--bind", h.Addr.String(), "--port", "4000",
			"--mcast-addr", group, "--mcast-port", strconv.Itoa(port), "--mcast-bind", h.Addr.String(),
			"--drop-time", fastCrashDrop.String(),
			"--interceptors", fastCrashStack, "--quiet", "--seconds", "120"}
	}
	for i := range hosts {
		c.launch(i)
	}
	for _, n := range c.nodes {
		c.started(n)
	}
	if _, ok := waitAll(c.nodes, 30*time.Second, c.fullView(c.nodes)); !ok {
		c.fatalf("no full view")
	}
	// Let the pings run for a while with everyone alive: no false removal.
	settle := time.Now()
	if !c.nodes[0].proc.WaitFor(2*time.Second, func() bool { return false }) {
		for _, n := range c.nodes {
			for _, e := range n.proc.EventsSince(settle) {
				if e.Kind == "gone" {
					t.Fatalf("member %s dropped while everyone was alive", e.Member.ID)
				}
			}
		}
	}
	victim := c.nodes[2]
	rest := c.others(victim)
	t0 := time.Now()
	victim.proc.Kill()
	if _, ok := waitAll(rest, fastCrashDrop/3, func(n *benchNode) bool { return !n.proc.Has(victim.id) }); !ok {
		c.fatalf("killed node still listed")
	}
	last, ok := lastEvent(rest, "gone", victim.id, t0)
	if !ok {
		c.fatalf("no member-disappeared event for the killed node")
	}
	// Dropped by the TCP check, not by the multicast expiry.
	c.check("crash detected with ping+tcpfailure", last.Sub(t0), benchDrop-time.Second)
}
