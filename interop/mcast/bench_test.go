package mcastinterop_test

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/gotribes/tribes/internal/javapeer"
	"github.com/gotribes/tribes/internal/netbench"
)

// The multi-host bench: 5 hosts (network namespaces on a bridge), one node each, with
// multicast membership (500 ms / 3000 ms) and a TCP failure detector with the read test
// (so that a frozen process is told from a live one). Scenarios, in order, on one cluster:
// full view at start, a crash (SIGKILL) and a clean stop, the join of a new node, a
// 10-second freeze (SIGSTOP/SIGCONT), a 2|3 partition and its healing, and 30 s of 5%
// packet loss. Go nodes always run; Java nodes run the same scenarios, measured the same
// way, when GOTRIBES_BENCH_JAVA=1.
//
// What must happen is asserted (every node reaches the expected view within a generous
// bound, a crash is dropped by expiry and a clean stop by its shutdown packet, the frozen
// node does not flap, no false removal under loss). How fast it happens is measured and
// logged against the documented limits, but those limits fail the test only with
// GOTRIBES_BENCH_STRICT=1: on a loaded machine (CI runs every package at once under the
// race detector) wall-clock limits are not a property of the code.

const (
	benchHosts = 5
	benchDrop  = 3 * time.Second
	lossWindow = 30 * time.Second
)

// figures are what a run measures; the test logs them as JSON (docs/benchmarks.md).
type figures struct {
	Kind            string  `json:"kind"`
	FullViewMs      float64 `json:"fullViewMs"`      // all 5 launched -> every node lists the other 4
	JoinSpreadMs    float64 `json:"joinSpreadMs"`    // first to last member-added about a joining node (both directions)
	JoinFullMs      float64 `json:"joinFullMs"`      // launch of the joining node -> all of its 8 member-added events
	CrashMs         float64 `json:"crashMs"`         // SIGKILL -> gone on the last of the other 4
	CleanStopMs     float64 `json:"cleanStopMs"`     // graceful stop -> gone on the last of the other 4
	FreezeGoneMs    float64 `json:"freezeGoneMs"`    // SIGSTOP -> gone on the last of the other 4
	FreezeBackMs    float64 `json:"freezeBackMs"`    // SIGCONT -> listed again by all 4
	FrozenNodeFlaps int     `json:"frozenNodeFlaps"` // member-disappeared events the frozen node printed after SIGCONT
	PartitionMs     float64 `json:"partitionMs"`     // cut -> both sides list only their own side
	HealMs          float64 `json:"healMs"`          // heal -> full view everywhere
	LossFalseGone   int     `json:"lossFalseGone"`   // member-disappeared events during 30 s of 5% loss
	LossDropped     int     `json:"lossDropped"`     // packets the loss rules dropped meanwhile
}

type benchNode struct {
	h    *netbench.Host
	proc *netbench.Proc
	id   string
}

type cluster struct {
	t     *testing.T
	kind  string
	b     *netbench.Bench
	group string
	port  int
	nodes []*benchNode
	argv  func(h *netbench.Host) []string
	java  bool
	bin   string
	seq   int
}

func newCluster(t *testing.T, kind string) *cluster {
	b := netbench.New(t, benchHosts)
	c := &cluster{t: t, kind: kind, b: b, java: kind == "java"}
	c.group, c.port = netbench.Group(t.Name())
	if c.java {
		javapeer.Skip(t)
		c.argv = func(h *netbench.Host) []string {
			cmd, err := javapeer.NodeCommand("--bind", h.Addr.String(), "--port", "4000",
				"--mcast-addr", c.group, "--mcast-port", strconv.Itoa(c.port), "--mcast-bind", h.Addr.String(),
				"--interceptors", "TcpFailureDetector(performReadTest=true;readTestTimeout=1000)",
				"--quiet", "--seconds", "300")
			if err != nil {
				t.Fatal(err)
			}
			return cmd
		}
	} else {
		c.bin = netbench.Tribesdemo(t)
		c.argv = func(h *netbench.Host) []string {
			return []string{c.bin, "node", "--bind", h.Addr.String(), "--port", "4000",
				"--mcast-addr", c.group, "--mcast-port", strconv.Itoa(c.port), "--mcast-bind", h.Addr.String(),
				"--interceptors", "tcpfailure(performReadTest=true;readTestTimeout=1000)",
				"--quiet", "--seconds", "300"}
		}
	}
	c.nodes = make([]*benchNode, benchHosts)
	return c
}

// launch starts a node on host i (replacing a dead one) without waiting for it.
func (c *cluster) launch(i int) *benchNode {
	h := c.b.Hosts[i]
	c.seq++
	n := &benchNode{h: h, proc: h.Start(c.t, fmt.Sprintf("%s-%d.%d", c.kind, i, c.seq),
		netbench.ProcOptions{QuitOnStdin: c.java}, c.argv(h)...)}
	c.nodes[i] = n
	return n
}

func (c *cluster) started(n *benchNode) {
	n.id = n.proc.Started(c.t, 60*time.Second).ID
}

// others returns the nodes other than skip.
func (c *cluster) others(skip ...*benchNode) []*benchNode {
	var out []*benchNode
	for _, n := range c.nodes {
		if n != nil && !slices.Contains(skip, n) {
			out = append(out, n)
		}
	}
	return out
}

// waitAll waits until cond holds for every node of ns, returning when (or false).
func waitAll(ns []*benchNode, timeout time.Duration, cond func(n *benchNode) bool) (time.Time, bool) {
	deadline := time.Now().Add(timeout)
	for _, n := range ns {
		if !n.proc.WaitFor(time.Until(deadline), func() bool { return cond(n) }) {
			return time.Time{}, false
		}
	}
	return time.Now(), true
}

// lastEvent is the time of the last event of kind about id at any of ns after since.
func lastEvent(ns []*benchNode, kind, id string, since time.Time) (time.Time, bool) {
	var last time.Time
	for _, n := range ns {
		found := false
		for _, e := range n.proc.EventsSince(since) {
			if e.Kind == kind && e.Member.ID == id {
				if e.At.After(last) {
					last = e.At
				}
				found = true
				break
			}
		}
		if !found {
			return time.Time{}, false
		}
	}
	return last, true
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func (c *cluster) fullView(ns []*benchNode) func(n *benchNode) bool {
	return func(n *benchNode) bool {
		want := make([]string, 0, len(ns))
		for _, o := range ns {
			if o != n {
				want = append(want, o.id)
			}
		}
		slices.Sort(want)
		return slices.Equal(n.proc.View(), want)
	}
}

// benchStrict makes the timing limits fail Go runs (GOTRIBES_BENCH_STRICT=1).
var benchStrict = os.Getenv("GOTRIBES_BENCH_STRICT") == "1"

// check logs a measured time against its limit; with GOTRIBES_BENCH_STRICT=1 it fails a
// Go run that exceeds it (Java runs only report).
func (c *cluster) check(what string, got, limit time.Duration) {
	c.t.Helper()
	c.t.Logf("%s %s: %v (limit %v)", c.kind, what, got.Round(time.Millisecond), limit)
	if got > limit {
		if benchStrict && !c.java {
			c.t.Errorf("%s: %v, want at most %v", what, got.Round(time.Millisecond), limit)
		} else {
			c.t.Logf("%s %s: over the limit (not enforced without GOTRIBES_BENCH_STRICT=1)", c.kind, what)
		}
	}
}

// goneEvents returns, for each node of ns, its member-disappeared events about id after
// since; a node without one fails the test.
func (c *cluster) goneEvents(ns []*benchNode, id string, since time.Time) []netbench.Event {
	c.t.Helper()
	var out []netbench.Event
	for _, n := range ns {
		found := false
		for _, e := range n.proc.EventsSince(since) {
			if e.Kind == "gone" && e.Member.ID == id {
				out = append(out, e)
				found = true
			}
		}
		if !found {
			c.fatalf("node %s printed no member-disappeared event about %s", n.id, id)
		}
	}
	return out
}

func (c *cluster) fatalf(format string, args ...any) {
	c.t.Helper()
	var views string
	for i, n := range c.nodes {
		if n != nil {
			views += fmt.Sprintf("\n  node %d (%s): %v", i, n.id, n.proc.View())
		}
	}
	c.t.Fatalf(format+views, args...)
}

func runBench(t *testing.T, kind string) figures {
	c := newCluster(t, kind)
	f := figures{Kind: kind}
	slow := time.Duration(1)
	if c.java {
		slow = 3 // JVM start-up and Java's expiry granularity: wider waits, no assertions
	}

	// 1. Full view: launch all, every node lists the other 4.
	t0 := time.Now()
	for i := range benchHosts {
		c.launch(i)
	}
	for _, n := range c.nodes {
		c.started(n)
	}
	at, ok := waitAll(c.nodes, 30*time.Second*slow, c.fullView(c.nodes))
	if !ok {
		c.fatalf("no full view")
	}
	f.FullViewMs = ms(at.Sub(t0))
	c.check("full view after launch", at.Sub(t0), 2*time.Second)

	// 2. Crash: SIGKILL node 4; gone everywhere within the drop time + 1 s.
	victim := c.nodes[4]
	t0 = time.Now()
	victim.proc.Kill()
	rest := c.others(victim)
	if _, ok := waitAll(rest, (benchDrop+10*time.Second)*slow, func(n *benchNode) bool { return !n.proc.Has(victim.id) }); !ok {
		c.fatalf("killed node still listed")
	}
	for _, e := range c.goneEvents(rest, victim.id, t0) {
		if e.Member.Shutdown() {
			t.Errorf("the killed node was dropped with a shutdown command: %s", e.Line)
		}
	}
	last, _ := lastEvent(rest, "gone", victim.id, t0)
	f.CrashMs = ms(last.Sub(t0))
	c.check("crash detected", last.Sub(t0), benchDrop+time.Second)

	// 3. Join: a new node on host 4. Spread of the 8 member-added events about it.
	t0 = time.Now()
	joiner := c.launch(4)
	c.started(joiner)
	if _, ok := waitAll(c.nodes, 10*time.Second*slow, c.fullView(c.nodes)); !ok {
		c.fatalf("joining node not in every view")
	}
	first, lastJ := time.Time{}, time.Time{}
	for _, e := range joiner.proc.EventsSince(t0) {
		if e.Kind == "added" {
			first, lastJ = minTime(first, e.At), maxTime(lastJ, e.At)
		}
	}
	for _, n := range rest {
		for _, e := range n.proc.EventsSince(t0) {
			if e.Kind == "added" && e.Member.ID == joiner.id {
				first, lastJ = minTime(first, e.At), maxTime(lastJ, e.At)
			}
		}
	}
	f.JoinSpreadMs = ms(lastJ.Sub(first))
	f.JoinFullMs = ms(lastJ.Sub(t0))
	c.check("join spread (first to last member-added about the new node)", lastJ.Sub(first), 100*time.Millisecond)

	// 4. Clean stop of node 3: gone everywhere at once (shutdown packet).
	stopper := c.nodes[3]
	rest = c.others(stopper)
	t0 = time.Now()
	stopper.proc.Shutdown(20 * time.Second)
	if _, ok := waitAll(rest, (benchDrop+10*time.Second)*slow, func(n *benchNode) bool { return !n.proc.Has(stopper.id) }); !ok {
		c.fatalf("stopped node still listed")
	}
	// Dropped on its shutdown packet, not by expiry.
	for _, e := range c.goneEvents(rest, stopper.id, t0) {
		if !c.java && !e.Member.Shutdown() {
			t.Errorf("the stopped node was dropped without its shutdown command: %s", e.Line)
		}
	}
	last, _ = lastEvent(rest, "gone", stopper.id, t0)
	f.CleanStopMs = ms(last.Sub(t0))
	c.check("clean stop detected", last.Sub(t0), 500*time.Millisecond)
	c.started(c.launch(3))
	if _, ok := waitAll(c.nodes, 10*time.Second*slow, c.fullView(c.nodes)); !ok {
		c.fatalf("no full view after restarting node 3")
	}

	// 5. Freeze node 2 for 10 s: removed by the others, back after SIGCONT; the frozen node
	// itself should not drop anybody when it resumes.
	frozen := c.nodes[2]
	rest = c.others(frozen)
	t0 = time.Now()
	if err := frozen.proc.Freeze(); err != nil {
		t.Fatal(err)
	}
	if _, ok := waitAll(rest, 10*time.Second, func(n *benchNode) bool { return !n.proc.Has(frozen.id) }); !ok {
		_ = frozen.proc.Thaw()
		c.fatalf("frozen node still listed after 10 s")
	}
	last, _ = lastEvent(rest, "gone", frozen.id, t0)
	f.FreezeGoneMs = ms(last.Sub(t0))
	c.check("frozen node removed", last.Sub(t0), benchDrop+3*time.Second)
	time.Sleep(10*time.Second - time.Since(t0))
	t0 = time.Now()
	if err := frozen.proc.Thaw(); err != nil {
		t.Fatal(err)
	}
	at, ok = waitAll(c.nodes, 10*time.Second*slow, c.fullView(c.nodes))
	if !ok {
		c.fatalf("no full view after SIGCONT")
	}
	f.FreezeBackMs = ms(at.Sub(t0))
	c.check("frozen node back", at.Sub(t0), 3*time.Second)
	time.Sleep(500 * time.Millisecond)
	for _, e := range frozen.proc.EventsSince(t0) {
		if e.Kind == "gone" {
			f.FrozenNodeFlaps++
		}
	}
	if !c.java && f.FrozenNodeFlaps != 0 {
		t.Errorf("the frozen node dropped %d members when it resumed", f.FrozenNodeFlaps)
	}

	// 6. Partition 2|3, then heal.
	sideA, sideB := c.nodes[:2], c.nodes[2:]
	hosts := func(ns []*benchNode) []*netbench.Host {
		var hs []*netbench.Host
		for _, n := range ns {
			hs = append(hs, n.h)
		}
		return hs
	}
	t0 = time.Now()
	c.b.Partition(hosts(sideA), hosts(sideB))
	_, okA := waitAll(sideA, 15*time.Second*slow, c.fullView(sideA))
	_, okB := waitAll(sideB, 15*time.Second*slow, c.fullView(sideB))
	if !okA || !okB {
		c.b.Heal()
		c.fatalf("partition not seen on both sides")
	}
	f.PartitionMs = ms(time.Since(t0))
	c.check("partition seen on both sides", time.Since(t0), benchDrop+5*time.Second)
	t0 = time.Now()
	c.b.Heal()
	at, ok = waitAll(c.nodes, 15*time.Second*slow, c.fullView(c.nodes))
	if !ok {
		c.fatalf("no full view after healing")
	}
	f.HealMs = ms(at.Sub(t0))
	c.check("healed to a full view", at.Sub(t0), 3*time.Second)

	// 7. 30 s of 5% loss on every host's input: no member may be dropped.
	t0 = time.Now()
	c.b.Loss(0.05)
	time.Sleep(lossWindow)
	f.LossDropped = c.b.Dropped()
	c.b.Loss(0)
	for _, n := range c.nodes {
		for _, e := range n.proc.EventsSince(t0) {
			if e.Kind == "gone" {
				f.LossFalseGone++
				t.Logf("%s false removal at %s: %s", kind, n.h.Addr, e.Line)
			}
		}
	}
	t.Logf("%s: %d packets dropped in %v, %d members dropped", kind, f.LossDropped, lossWindow, f.LossFalseGone)
	if !c.java && f.LossFalseGone != 0 {
		t.Errorf("%d false removals under 5%% loss", f.LossFalseGone)
	}
	if f.LossDropped == 0 {
		t.Error("the loss rules dropped nothing")
	}
	out, _ := json.Marshal(f)
	t.Logf("figures: %s", out)
	if p := os.Getenv("GOTRIBES_BENCH_OUT"); p != "" {
		fh, err := os.OpenFile(p, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err == nil {
			fmt.Fprintf(fh, "%s\n", out)
			fh.Close()
		}
	}
	return f
}

func minTime(a, b time.Time) time.Time {
	if a.IsZero() || b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// TestBenchGo runs the bench with Go nodes (tribesdemo node) and asserts the timings.
func TestBenchGo(t *testing.T) {
	if testing.Short() {
		t.Skip("the multi-host bench takes a minute")
	}
	runBench(t, "go")
}

// TestBenchJava runs the same bench with Java Tribes nodes, for comparison figures.
func TestBenchJava(t *testing.T) {
	if os.Getenv("GOTRIBES_BENCH_JAVA") != "1" {
		t.Skip("set GOTRIBES_BENCH_JAVA=1 to measure Java Tribes on the bench (about 1.5 minutes)")
	}
	runBench(t, "java")
}
