package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gotribes/tribes/internal/procfs"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/internal/tomcat"
)

// Environment of the roles: the harness starts its own binary with these set.
const (
	envRole   = "GOTRIBES_HTTPBENCH_ROLE" // "server" or "load"
	envConfig = "GOTRIBES_HTTPBENCH_CONFIG"
)

// Configurations, as --configs names them.
const (
	cfgSingle = "single" // one node, no replication: Tomcat StandardManager, Go, bare handler, scs
	cfgAsync  = "async"  // 3 nodes, asynchronous replication: Tomcat DeltaManager vs Go
	cfgAcked  = "acked"  // 3 nodes, acked replication (use_ack + sync_ack)
	cfgMixed  = "mixed"  // 1 Tomcat + 2 Go (Java codec), acked, load on either kind
	// cfgSCSAcked: 3 Go nodes serving the counter with alexedwards/scs over
	// session/scsstore, acked replication (no Tomcat side).
	cfgSCSAcked = "scs-acked"
)

// allConfigs is in the order startAll starts their Go servers (the mixed cluster's last:
// they wait for its Tomcat node).
var allConfigs = []string{cfgSingle, cfgAsync, cfgAcked, cfgSCSAcked, cfgMixed}

// options are the harness's settings.
type options struct {
	Configs    []string
	Runs       int
	Conns      int
	Warmup     time.Duration // load before each measurement, not counted
	Measure    time.Duration
	Prewarm    time.Duration // load on every side once before the runs, not counted
	Dir        string        // for CATALINA_BASEs, the webapp and logs
	JVMOptions string        // Tomcat's JVM options (tomcat.Config.JVMOptions)
	NoTomcat   bool          // Go sides only: no Tomcat node starts (and no mixed cluster)
	CPUProfile string        // if set, each Go server writes its CPU profile to CPUProfile/<name>.cpu.pprof
	Trace      string        // if set, each Go server writes a runtime trace to Trace/<name>.trace
	TraceAt    time.Duration // when the trace starts, from the server's start
	// ServerGODEBUG, if set, is the Go servers' GODEBUG (not the load client's).
	ServerGODEBUG string
	// DeliverOnLoop makes the Go cluster nodes deliver on their event loops
	// (nio.Config.DeliverOnEventLoop).
	DeliverOnLoop bool
	// Engine is the Go cluster nodes' receiver engine (nio.Config.Engine); empty: the
	// default.
	Engine string
	// AckedBatchWait is the acked Go cluster nodes' delta.Config.AckedBatchWait (0: the
	// default; negative: no wait).
	AckedBatchWait time.Duration
	Log            io.Writer // progress lines
}

// server is one running server process of a side.
type server interface {
	name() string
	url() string // http://127.0.0.1:port/app
	pid() int
}

// side is one thing measured: load on nodes[0], its sessions checked on nodes[1].
type side struct {
	config, name string
	nodes        []server
	prepare      func() error // before each measurement (Tomcat's send options)
}

// measurement is one load run against a side.
type measurement struct {
	Config, Side string
	Run          int
	Load         loadResult
	RSS          []int64 // KiB, per node, after the run
	LoadAvg      string  // the machine's 1-minute load average after the run (/proc/loadavg)
	Stale        int     // sessions whose copy on node 2 lacked the last counter (checkReplicated)
	CheckErr     string  `json:",omitempty"` // a session could not be read on node 2
}

// harness holds the processes of a run.
type harness struct {
	t    testutil.TB
	opts options
	exe  string
}

// run starts every process the configurations need, measures each side once per run,
// alternating the order of the sides from one run to the next, and returns every
// measurement in order.
func run(t testutil.TB, opts options) []measurement {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatalf("%v", err)
	}
	h := &harness{t: t, opts: opts, exe: exe}
	sides := h.startAll(opts.Configs)
	if opts.Prewarm > 0 {
		// The JVMs compile the hot code during this load (and the Go servers grow their
		// heaps): the runs then measure both warm.
		for _, s := range sides {
			h.logf("warming up %s %s", s.config, s.name)
			h.prepare(s) // Tomcat's cluster warms with the send options of each of its sides
			h.load(s, loadConfig{URL: s.nodes[0].url() + "/counter", Conns: opts.Conns, Warmup: opts.Prewarm, Measure: 100 * time.Millisecond})
		}
	}
	var out []measurement
	for r := range opts.Runs {
		order := slices.Clone(sides)
		if r%2 == 1 {
			slices.Reverse(order)
		}
		for _, s := range order {
			m := h.measure(s, r)
			h.logf("run %d %-6s %-14s %9.0f req/s  errors %d %s stale %d rss %v KiB load %s %s", r+1, s.config, s.name,
				m.Load.ReqPerSec, m.Load.Errors, m.Load.FirstErr, m.Stale, m.RSS, m.LoadAvg, m.CheckErr)
			out = append(out, m)
		}
	}
	return out
}

func (h *harness) logf(format string, args ...any) {
	if h.opts.Log != nil {
		fmt.Fprintf(h.opts.Log, format+"\n", args...)
	}
}

// uid is a unique id of 16 bytes n.
func uid(n byte) channel.UniqueID {
	var id channel.UniqueID
	for i := range id {
		id[i] = n
	}
	id[0] = 0xc0 // a negative byte: Tomcat writes ids as signed bytes
	return id
}

// slot is a cluster member: its receiver port and id, and its HTTP port (Tomcat's).
type slot struct {
	tomcat.Member
	http int
}

// slots picks n slots with ids from first on.
func (h *harness) slots(first byte, n int) []slot {
	ports := testutil.FreePorts(h.t, 2*n)
	out := make([]slot, n)
	for i := range out {
		out[i] = slot{Member: tomcat.Member{Port: ports[2*i], UniqueID: uid(first + byte(i))}, http: ports[2*i+1]}
	}
	return out
}

// others is every slot but i, as Tomcat's member list and as the Go nodes' one.
func others(slots []slot, i int) ([]tomcat.Member, string) {
	var ms []tomcat.Member
	var list []string
	for j, s := range slots {
		if j != i {
			ms = append(ms, s.Member)
			list = append(list, fmt.Sprintf("127.0.0.1:%d:%x", s.Port, s.UniqueID[:]))
		}
	}
	return ms, strings.Join(list, ",")
}

// startAll starts every process the configurations need and returns their sides: the
// Go servers that need no Tomcat, then the Tomcat nodes that start alone (the single one,
// node 1 of each cluster) at once, then nodes 2 and 3 of the Tomcat cluster (which fetch
// node 1's sessions) while the mixed cluster's Go nodes start.
func (h *harness) startAll(configs []string) []*side {
	h.t.Helper()
	want := map[string]bool{}
	for _, c := range configs {
		if !slices.Contains(allConfigs, c) {
			h.t.Fatalf("unknown configuration %q (want some of %v)", c, allConfigs)
		}
		want[c] = true
	}
	if h.opts.NoTomcat && want[cfgMixed] {
		h.t.Fatalf("configuration %q needs Tomcat", cfgMixed)
	}
	withTomcat := !h.opts.NoTomcat
	h.logf("starting the servers")
	// Ports are picked right before the processes that bind them start (another process
	// may take a port picked long before), and the Go servers listen for HTTP on port 0.
	// First the Go servers that need no Tomcat.
	var goCfgs []serverConfig
	if want[cfgSingle] {
		id := uid(0)
		goCfgs = append(goCfgs, serverConfig{Kind: kindDelta, Route: "solo", ID: hex.EncodeToString(id[:])},
			serverConfig{Kind: kindBare}, serverConfig{Kind: kindSCS})
	}
	if want[cfgAsync] {
		goCfgs = append(goCfgs, goConfigs(h.slots(11, 3), "a", 0, false, false)...)
	}
	if want[cfgAcked] {
		goCfgs = append(goCfgs, goConfigs(h.slots(21, 3), "k", 0, true, false)...)
	}
	if want[cfgSCSAcked] {
		cfgs := goConfigs(h.slots(41, 3), "s", 0, true, false)
		for i := range cfgs {
			cfgs[i].SCS = true
		}
		goCfgs = append(goCfgs, cfgs...)
	}
	gos := h.goServers(goCfgs...)

	// Then the Tomcat nodes that start alone, at once.
	var first []tomcat.Config
	index := map[string]int{} // of the routes in first
	add := func(cfg tomcat.Config) {
		index[cfg.Route] = len(first)
		first = append(first, cfg)
	}
	clustered := withTomcat && (want[cfgAsync] || want[cfgAcked])
	if withTomcat && want[cfgSingle] {
		add(tomcat.Config{Route: "solo", HTTPPort: testutil.FreePorts(h.t, 1)[0], NoCluster: true})
	}
	tcCfgs := tomcatConfigs(h.slots(1, 3), "t", 3)
	if clustered {
		add(tcCfgs[0])
	}
	mixedSlots := h.slots(31, 3)
	if want[cfgMixed] {
		add(tomcatConfigs(mixedSlots, "m", 1)[0])
	}
	var app string
	var firstNodes []server
	if withTomcat {
		app = tomcat.Webapp(h.t, h.opts.Dir)
		firstNodes = h.wait(h.launch(app, first))
	}
	tomcatNode := func(route string) server { return firstNodes[index[route]] }

	// Then the others: Tomcat nodes 2 and 3, and the mixed cluster's Go nodes.
	var tcs []server
	if clustered {
		tcs = h.launch(app, tcCfgs[1:])
	}
	if want[cfgMixed] {
		gos = append(gos, h.goServers(goConfigs(mixedSlots, "m", 1, true, true)...)...)
	}
	if clustered {
		tcs = append([]server{tomcatNode("t1")}, h.wait(tcs)...)
	}

	var sides []*side
	for _, c := range allConfigs { // the order gos is in
		if !want[c] {
			continue
		}
		switch c {
		case cfgSingle:
			goNode, bare, scsNode := gos[0], gos[1], gos[2]
			gos = gos[3:]
			if withTomcat {
				sides = append(sides, &side{config: c, name: "tomcat", nodes: []server{tomcatNode("solo")}})
			}
			sides = append(sides,
				&side{config: c, name: "go", nodes: []server{goNode}},
				&side{config: c, name: "bare", nodes: []server{bare}},
				&side{config: c, name: "scs", nodes: []server{scsNode}})
		case cfgAsync, cfgAcked:
			// One Tomcat cluster serves both: its send options are set before each run.
			opts := map[string]string{cfgAsync: "8", cfgAcked: "6"}[c]
			if withTomcat {
				sides = append(sides, &side{config: c, name: "tomcat", nodes: tcs,
					prepare: func() error { return setSendOptions(tcs[0].(*tomcatServer), opts) }})
			}
			sides = append(sides, &side{config: c, name: "go", nodes: gos[:3]})
			gos = gos[3:]
		case cfgSCSAcked:
			sides = append(sides, &side{config: c, name: "scs", nodes: gos[:3]})
			gos = gos[3:]
		case cfgMixed:
			tc := tomcatNode("m1")
			sides = append(sides,
				&side{config: c, name: "load on tomcat", nodes: []server{tc, gos[0]}},
				&side{config: c, name: "load on go", nodes: []server{gos[0], tc}})
			gos = gos[2:]
		}
	}
	return sides
}

// tomcatServer is a Tomcat node.
type tomcatServer struct{ *tomcat.Node }

func (s tomcatServer) name() string { return "tomcat-" + s.Route }
func (s tomcatServer) url() string  { return s.URL }
func (s tomcatServer) pid() int     { return s.Pid() }

// launch starts Tomcat nodes without waiting for them.
func (h *harness) launch(app string, cfgs []tomcat.Config) []server {
	h.t.Helper()
	var out []server
	for _, cfg := range cfgs {
		cfg.JVMOptions = h.opts.JVMOptions
		out = append(out, &tomcatServer{tomcat.Launch(h.t, h.opts.Dir, app, cfg)})
	}
	return out
}

// wait waits until launched Tomcat nodes serve.
func (h *harness) wait(nodes []server) []server {
	h.t.Helper()
	for _, n := range nodes {
		n.(*tomcatServer).Wait(h.t)
	}
	return nodes
}

// tomcatConfigs are the Tomcat nodes on slots[:n] (every slot a member), routes prefix1,
// prefix2...
func tomcatConfigs(slots []slot, prefix string, n int) []tomcat.Config {
	var cfgs []tomcat.Config
	for i := range n {
		members, _ := others(slots, i)
		cfgs = append(cfgs, tomcat.Config{Route: fmt.Sprintf("%s%d", prefix, i+1), Port: slots[i].Port,
			UniqueID: slots[i].UniqueID, Members: members, HTTPPort: slots[i].http, SendOption: 6})
	}
	return cfgs
}

// goConfigs are the Go delta nodes on slots[from:], routes prefix<i+1>; they wait for
// each other and for the Tomcat nodes of the slots before from.
func goConfigs(slots []slot, prefix string, from int, acked, java bool) []serverConfig {
	var cfgs []serverConfig
	for i := from; i < len(slots); i++ {
		_, members := others(slots, i)
		cfgs = append(cfgs, serverConfig{Kind: kindDelta, Route: fmt.Sprintf("%s%d", prefix, i+1), Port: slots[i].Port, ID: hex.EncodeToString(slots[i].UniqueID[:]),
			Members: members, Acked: acked, Java: java})
	}
	return cfgs
}

// setSendOptions sets a Tomcat node's channelSendOptions (its test servlet does it by JMX).
func setSendOptions(n *tomcatServer, opts string) error {
	out, err := n.Get("/cluster?sendOptions="+opts, nil)
	if err == nil && out != opts {
		err = fmt.Errorf("channelSendOptions %q after setting %s", out, opts)
	}
	return err
}

// prepare readies s for load (Tomcat's send options).
func (h *harness) prepare(s *side) {
	h.t.Helper()
	if s.prepare != nil {
		if err := s.prepare(); err != nil {
			h.t.Fatalf("%s %s: %v", s.config, s.name, err)
		}
	}
}

// measure runs the load client against s and checks the sessions on the other node.
func (h *harness) measure(s *side, r int) measurement {
	h.t.Helper()
	m := measurement{Config: s.config, Side: s.name, Run: r + 1}
	h.prepare(s)
	var pids []int
	for _, n := range s.nodes {
		pids = append(pids, n.pid())
	}
	m.Load = h.load(s, loadConfig{URL: s.nodes[0].url() + "/counter", Conns: h.opts.Conns, Warmup: h.opts.Warmup,
		Measure: h.opts.Measure, Pids: pids})
	for _, n := range s.nodes {
		m.RSS = append(m.RSS, rssKiB(n.pid()))
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		m.LoadAvg, _, _ = strings.Cut(string(b), " ")
	}
	if len(s.nodes) > 1 {
		var err error
		wait := 10 * time.Second
		if ackedConfig(s.config) {
			wait = 0
		}
		if m.Stale, err = checkReplicated(s.nodes[1], m.Load.Sessions, wait); err != nil {
			m.CheckErr = err.Error()
		}
	}
	return m
}

// load runs a load client process against s.
func (h *harness) load(s *side, cfg loadConfig) loadResult {
	h.t.Helper()
	logPath := filepath.Join(h.opts.Dir, "load.log")
	cmd, stdout, err := h.child("load", cfg, logPath)
	if err != nil {
		h.t.Fatalf("load: %v", err)
	}
	var res loadResult
	out, err := io.ReadAll(stdout)
	if err == nil {
		err = cmd.Wait()
	}
	if err == nil {
		err = json.Unmarshal(out, &res)
	}
	if err != nil {
		b, _ := os.ReadFile(logPath)
		h.t.Fatalf("load on %s %s: %v\n%s%s", s.config, s.name, err, out, b)
	}
	return res
}

// ackedConfig reports whether every side of a configuration replicates acked: Go's
// delta.ReplicateAcked, Tomcat's channelSendOptions 6 (use_ack + sync_ack; its
// ReplicationValve sends after the servlet returns and before the unflushed response is
// written, so the client reads an answer only after node 2 applied the change).
func ackedConfig(config string) bool {
	return config == cfgAcked || config == cfgSCSAcked || config == cfgMixed
}

// checkReplicated reads each session's counter on node n until it equals the counter the
// load client saw last (a copy replicated asynchronously may take a moment), for up to
// wait; with wait 0 it reads each session once (acked replication: node n had the change
// before the client got its answer). It returns the sessions whose copy still had another
// counter then, or none (stale), and an error if node n could not be asked.
func checkReplicated(n server, sessions []session, wait time.Duration) (stale int, err error) {
	var pending []session
	for _, s := range sessions {
		if s.Cookie != "" {
			pending = append(pending, s)
		}
	}
	var failed error
	read := func() error {
		var next []session
		failed = nil
		for _, s := range pending {
			got, err := getCounter(n.url()+"/get?name=counter", s.Cookie)
			if err != nil {
				failed = fmt.Errorf("%s: session %s: %w", n.name(), s.Cookie, err)
			}
			if err != nil || got != s.Counter {
				next = append(next, s)
			}
		}
		pending = next
		if len(pending) > 0 {
			return errors.New("not there yet")
		}
		return nil
	}
	if wait <= 0 {
		_ = read()
	} else {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		_ = testutil.Poll(ctx, read)
	}
	if failed != nil {
		return 0, failed
	}
	return len(pending), nil
}

var checkClient = &http.Client{Timeout: 10 * time.Second}

// getCounter requests a /get page and reads the number after its last '|'; 0 if the
// session or its counter is missing.
func getCounter(url, cookie string) (int, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Cookie", cookie)
	resp, err := checkClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return 0, err
	}
	text := strings.TrimSpace(string(b))
	switch {
	case resp.StatusCode == http.StatusNotFound, resp.StatusCode == http.StatusOK && text == "-":
		return 0, nil // no such session, or no counter in it
	case resp.StatusCode != http.StatusOK:
		return 0, fmt.Errorf("%s: %d %s", url, resp.StatusCode, text)
	}
	n, err := strconv.Atoi(text[strings.LastIndexByte(text, '|')+1:])
	if err != nil {
		return 0, fmt.Errorf("%s: %q", url, text)
	}
	return n, nil
}

// rssKiB is a process's resident set (VmRSS) in KiB, 0 if unknown.
func rssKiB(pid int) int64 {
	st, err := procfs.Status(pid)
	if err != nil {
		return 0
	}
	return int64(st["VmRSS"] >> 10)
}
