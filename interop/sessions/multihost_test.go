package sessionsinterop_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gotribes/tribes/internal/netbench"
	"github.com/gotribes/tribes/internal/testutil"
)

// The scenario's bounds: the whole test takes about 10 s plus building tribesdemo.
const (
	webNodes       = 3
	clientSessions = 240                     // sessions the client keeps
	clientWorkers  = 24                      // concurrent requests (one session at a time each)
	beforeKill     = 2500 * time.Millisecond // load before the SIGKILL
	afterKill      = 3500 * time.Millisecond // load after it
	maxRequests    = 120_000                 // HTTP requests at most, retries included
	requestTimeout = 10 * time.Second
	downFor        = 300 * time.Millisecond // a node that refused a connection is skipped this long
)

// webNode is one `tribesdemo sessions` process on a netbench host.
type webNode struct {
	route     string
	base      string // http://addr:port
	proc      *netbench.Proc
	downUntil atomic.Int64 // unix ns: skip the node until then (a balancer's error state)
	served    atomic.Int64 // successful responses
	dead      atomic.Bool
}

func (n *webNode) down() bool { return time.Now().UnixNano() < n.downUntil.Load() }

// page is the JSON the sessions page answers with (?format=json).
type page struct {
	Route     string `json:"route"`
	SessionID string `json:"sessionId"`
	Counter   int    `json:"counter"`
	Members   int    `json:"members"`
}

// clientSession is the client's side of one session: its cookie and the highest counter
// a successful response gave. Only the worker that owns it touches it.
type clientSession struct {
	cookie    string
	last      int
	oks       int
	loggedOut bool // invalidated (/logout) once the load stopped: readAll skips it
}

func splitID(id string) (base, route string) {
	base, route, _ = strings.Cut(id, ".")
	return base, route
}

// statusError is a response other than 200.
type statusError struct {
	code int
	body string
}

func (e *statusError) Error() string { return fmt.Sprintf("HTTP %d: %s", e.code, e.body) }

type webClient struct {
	hc    *http.Client
	nodes []*webNode

	requests, oks, netErrs, unavailable, otherStatus atomic.Int64
	renames, failovers, okAfterKill, exhausted       atomic.Int64
	killed                                           atomic.Pointer[webNode]
	// cut is a node a partition cut off from the others at cutAt (unix ns); cutRefused
	// counts its 503s to requests sent after that.
	cut               atomic.Pointer[webNode]
	cutAt, cutRefused atomic.Int64

	mu         sync.Mutex
	violations []string
}

func (c *webClient) violate(format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.violations = append(c.violations, fmt.Sprintf(format, args...))
}

// get sends one counter request to n with the session cookie (none if empty) and returns
// the page and the session id the client must use from now on.
func (c *webClient) get(n *webNode, cookie string) (page, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, n.base+"/?format=json", nil)
	if err != nil {
		return page{}, "", err
	}
	if cookie != "" {
		req.Header.Set("Cookie", "JSESSIONID="+cookie)
	}
	c.requests.Add(1)
	resp, err := c.hc.Do(req)
	if err != nil {
		return page{}, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return page{}, "", err // the node died while answering: no response
	}
	if resp.StatusCode != http.StatusOK {
		return page{}, "", &statusError{resp.StatusCode, strings.TrimSpace(string(body))}
	}
	var p page
	if err := json.Unmarshal(body, &p); err != nil {
		return page{}, "", fmt.Errorf("bad JSON from %s: %v: %q", n.route, err, body)
	}
	next := cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == "JSESSIONID" {
			next = ck.Value
		}
	}
	if next != p.SessionID {
		c.violate("%s answered session %s but the cookie says %q (sent %q)", n.route, p.SessionID, next, cookie)
	}
	return p, p.SessionID, nil
}

// request makes one counter request for s, as a failover load balancer would: to the node
// of the session's route half of the time (sticky), to a random node otherwise; when that
// node does not answer successfully, to the next one, with the same cookie. Only a 200
// response counts, and only its Set-Cookie is taken: like a proxy that retries a 503 on
// another node, the client never sees a failed response's headers, so it may keep an id
// the cluster has already renamed. It returns false when every node failed.
func (c *webClient) request(s *clientSession, rng *rand.Rand, stop func() bool) bool {
	first := rng.IntN(len(c.nodes))
	if _, route := splitID(s.cookie); route != "" && rng.IntN(2) == 0 {
		for i, n := range c.nodes {
			if n.route == route {
				first = i
			}
		}
	}
	for attempt := range 2 * len(c.nodes) {
		if stop() {
			return false
		}
		n := c.nodes[(first+attempt)%len(c.nodes)]
		if attempt < len(c.nodes) && n.down() {
			continue
		}
		// A node killed (and reaped) before the request left cannot answer it; one
		// killed while the request was out may have answered already.
		killedBefore := c.killed.Load()
		sentAt := time.Now().UnixNano()
		p, id, err := c.get(n, s.cookie)
		afterCut := c.cut.Load() == n && sentAt > c.cutAt.Load()
		var se *statusError
		switch {
		case errors.As(err, &se) && se.code == http.StatusServiceUnavailable:
			c.unavailable.Add(1) // acked replication failed: the change was not acknowledged
			if afterCut {
				c.cutRefused.Add(1)
			}
			continue
		case errors.As(err, &se):
			c.otherStatus.Add(1)
			c.violate("%s answered %v", n.route, err)
			continue
		case err != nil:
			c.netErrs.Add(1)
			n.downUntil.Store(time.Now().Add(downFor).UnixNano())
			continue
		}
		c.oks.Add(1)
		n.served.Add(1)
		if afterCut {
			c.violate("%s, cut off from the others, acknowledged counter %d of session %s", n.route, p.Counter, id)
		}
		killed := c.killed.Load()
		if killed != nil {
			c.okAfterKill.Add(1)
		}
		if n == killedBefore {
			c.violate("%s answered a request sent after it was killed", n.route)
		}
		sentBase, sentRoute := splitID(s.cookie)
		gotBase, gotRoute := splitID(id)
		switch {
		case s.cookie == "":
			if p.Counter != 1 {
				c.violate("new session %s on %s starts at %d", id, n.route, p.Counter)
			}
		case gotBase != sentBase:
			c.violate("session %s (counter %d) was replaced on %s by %s with counter %d", s.cookie, s.last, n.route, id, p.Counter)
			s.last = 0 // go on with the new session
		case p.Counter <= s.last:
			c.violate("session %s went backwards on %s: %d after %d", id, n.route, p.Counter, s.last)
		}
		if s.cookie != "" && gotBase == sentBase && gotRoute != sentRoute {
			c.renames.Add(1)
			if killed != nil && sentRoute == killed.route {
				c.failovers.Add(1)
			}
		}
		if gotRoute != n.route {
			c.violate("%s answered with session %s, not bound to its route", n.route, id)
		}
		s.cookie, s.last = id, max(s.last, p.Counter)
		s.oks++
		return true
	}
	c.exhausted.Add(1)
	return false
}

// startWebCluster runs webNodes `tribesdemo sessions` nodes (acked replication, the TCP
// failure detector, multicast membership on the namespaces' veths; extra flags added),
// each on a netbench host of its own, and returns them with a client whose connections
// leave from one more host, once every node lists the others.
func startWebCluster(t *testing.T, extra ...string) (*netbench.Bench, []*webNode, *webClient) {
	t.Helper()
	b := netbench.New(t, webNodes+1) // skips unless root with ip and iptables
	bin := netbench.Tribesdemo(t)
	group, mport := netbench.Group(t.Name())
	clientHost := b.Hosts[webNodes]

	var nodes []*webNode
	for i := range webNodes {
		h := b.Hosts[i]
		n := &webNode{route: fmt.Sprintf("node%d", i+1), base: "http://" + net.JoinHostPort(h.Addr.String(), "8080")}
		args := []string{bin, "sessions",
			"--bind", h.Addr.String(), "--port", "4000", "--autobind", "1",
			"--mcast-addr", group, "--mcast-port", strconv.Itoa(mport), "--mcast-bind", h.Addr.String(),
			"--interceptors", "tcpfailure",
			"--http", net.JoinHostPort(h.Addr.String(), "8080"), "--route", n.route, "--acked",
			"--seconds", "90", "-v"}
		n.proc = h.Start(t, n.route, netbench.ProcOptions{}, append(args, extra...)...)
		nodes = append(nodes, n)
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, n := range nodes {
				t.Logf("%s's log (its last lines):\n%s", n.route, n.proc.Stderr())
			}
		}
	})
	for _, n := range nodes {
		n.proc.Started(t, 30*time.Second)
		ready := n.proc.WaitFor(30*time.Second, func() bool {
			for _, e := range n.proc.Events() {
				if e.Kind == "ready" || e.Kind == "state-transfer-failed" {
					return e.Kind == "ready"
				}
			}
			return false
		})
		if !ready {
			t.Fatalf("%s not ready; stderr:\n%s", n.route, n.proc.Stderr())
		}
	}

	tr := &http.Transport{DialContext: nsDialer(clientHost.NS), MaxIdleConnsPerHost: clientWorkers,
		DisableCompression: true, ResponseHeaderTimeout: requestTimeout}
	t.Cleanup(tr.CloseIdleConnections)
	c := &webClient{hc: &http.Client{Transport: tr}, nodes: nodes}

	// Every node must list the other two before the load starts: acknowledged replication
	// only covers the members a node knows.
	for _, n := range nodes {
		testutil.Eventually(t, 15*time.Second, func() error {
			p, _, err := c.get(n, "")
			if err == nil && p.Members != webNodes-1 {
				err = fmt.Errorf("members %d", p.Members)
			}
			if err != nil {
				return fmt.Errorf("%s does not list the other %d nodes: %w", n.route, webNodes-1, err)
			}
			return nil
		})
	}
	c.requests.Store(0)
	return b, nodes, c
}

// TestSessionFailoverAcrossHosts runs three `tribesdemo sessions` nodes, each in a network
// namespace of its own (internal/netbench), with multicast membership on the namespaces'
// veths, the TCP failure detector and acknowledged replication. A client in this
// process, its connections opened in a fourth namespace (nsDialer), keeps clientSessions
// sessions and increments their counters from clientWorkers goroutines, spreading the
// requests over the nodes; after beforeKill one node is killed with SIGKILL while
// requests are in flight, and the load goes on for afterKill on the two survivors (a
// request to the dead node fails over to another one with the same cookie; that node
// renames the session to its route).
//
// It checks that no successful response went backwards within its session, and at the
// end, by reading every session on both survivors, that each counter is at least the
// highest value ever returned (no acknowledged write was lost) and that the survivors
// agree.
func TestSessionFailoverAcrossHosts(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-host session failover takes about 10 s")
	}
	_, nodes, c := startWebCluster(t)

	// The load.
	start := time.Now()
	end := start.Add(beforeKill + afterKill)
	sessions, wg := c.load(start, func() bool { return c.requests.Load() >= maxRequests || time.Now().After(end) })
	victim := nodes[webNodes-1]
	time.Sleep(time.Until(start.Add(beforeKill)))
	servedBefore := victim.served.Load()
	okBefore := c.oks.Load()
	victim.proc.Kill() // SIGKILL by PID, reaped
	victim.dead.Store(true)
	c.killed.Store(victim)
	killedAt := time.Since(start)
	wg.Wait()
	elapsed := time.Since(start)

	var survivors []*webNode
	for _, n := range nodes {
		if n != victim {
			survivors = append(survivors, n)
		}
	}
	t.Logf("load: %d requests in %v (%.0f/s), %d ok (%d before the kill at %v, %d after), %d network errors, "+
		"%d 503, %d given up, %d renames by the jvmRoute binder (%d away from the killed %s, which had served %d)",
		c.requests.Load(), elapsed.Round(time.Millisecond), float64(c.requests.Load())/elapsed.Seconds(),
		c.oks.Load(), okBefore, killedAt.Round(time.Millisecond), c.okAfterKill.Load(), c.netErrs.Load(),
		c.unavailable.Load(), c.exhausted.Load(), c.renames.Load(), c.failovers.Load(), victim.route, servedBefore)

	// Read every session back on both survivors, one after the other: each read increments,
	// so the first must give more than the highest value ever acknowledged and the second
	// exactly one more than the first.
	checked := c.readAll(sessions, survivors)
	t.Logf("read back %d sessions on %s and %s", checked, survivors[0].route, survivors[1].route)
	c.reportViolations(t)
	if servedBefore == 0 {
		t.Errorf("%s served nothing before it was killed", victim.route)
	}
	if c.okAfterKill.Load() < 100 {
		t.Errorf("only %d successful requests after the kill", c.okAfterKill.Load())
	}
	if c.failovers.Load() == 0 {
		t.Errorf("no session of %s was taken over by a survivor", victim.route)
	}
	if checked < clientSessions*9/10 {
		t.Errorf("only %d of %d sessions got a successful response", checked, clientSessions)
	}
	for _, n := range survivors {
		if n.served.Load() == 0 {
			t.Errorf("%s served nothing", n.route)
		}
	}
}

// load starts clientWorkers goroutines that make requests (request) for clientSessions
// sessions, spread over the workers, until stop; wg.Wait waits for them.
func (c *webClient) load(start time.Time, stop func() bool) ([]*clientSession, *sync.WaitGroup) {
	sessions := make([]*clientSession, clientSessions)
	for i := range sessions {
		sessions[i] = &clientSession{}
	}
	var wg sync.WaitGroup
	for w := range clientWorkers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), uint64(start.UnixNano())))
			for i := w; !stop(); i += clientWorkers {
				c.request(sessions[i%clientSessions], rng, stop)
			}
		})
	}
	return sessions, &wg
}

// readAll reads every session that got a successful response (and was not logged out) back on nodes, one after
// the other (readBack), from clientWorkers goroutines; it returns how many it checked.
func (c *webClient) readAll(sessions []*clientSession, nodes []*webNode) int {
	var read sync.WaitGroup
	var checked atomic.Int64
	for w := range clientWorkers {
		read.Go(func() {
			for i := w; i < len(sessions); i += clientWorkers {
				if s := sessions[i]; s.oks > 0 && !s.loggedOut {
					c.readBack(s, nodes, &checked)
				}
			}
		})
	}
	read.Wait()
	return int(checked.Load())
}

// reportViolations fails t with the violations recorded (the first 20).
func (c *webClient) reportViolations(t *testing.T) {
	t.Helper()
	c.mu.Lock()
	violations := c.violations
	c.mu.Unlock()
	for i, v := range violations {
		if i == 20 {
			t.Errorf("... and %d more", len(violations)-20)
			break
		}
		t.Error(v)
	}
}

// readBack reads s on each survivor in turn and checks the counters.
func (c *webClient) readBack(s *clientSession, survivors []*webNode, checked *atomic.Int64) {
	cookie, want := s.cookie, s.last+1
	for _, n := range survivors {
		var p page
		var id string
		var err error
		for range 3 { // a 503 would mean a replication failure between the survivors
			if p, id, err = c.get(n, cookie); err == nil {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		switch {
		case err != nil:
			c.violate("reading session %s on %s: %v", cookie, n.route, err)
			return
		case strings.Split(id, ".")[0] != strings.Split(cookie, ".")[0]:
			c.violate("session %s (last acknowledged counter %d) is gone on %s: got a new session %s",
				cookie, s.last, n.route, id)
			return
		case p.Counter < want:
			c.violate("session %s lost acknowledged writes on %s: counter %d after an increment, highest acknowledged %d",
				id, n.route, p.Counter, s.last)
		case n != survivors[0] && p.Counter != want:
			c.violate("survivors disagree on session %s: %s read %d after %d", id, n.route, p.Counter, want-1)
		}
		cookie, want = id, p.Counter+1
	}
	checked.Add(1)
}
