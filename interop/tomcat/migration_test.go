package tomcatinterop_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gotribes/tribes/internal/counter"

	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/internal/tomcat"
	"github.com/gotribes/tribes/session/delta"
)

// balancer routes each session to the node its id's jvmRoute names while that node is in
// the pool (sticky, as a jvmRoute-aware load balancer does), and to a fixed other node of
// the pool otherwise. A node being replaced is drained: its in-flight requests end, and
// its sessions wait until its replacement is in the pool (release).
type balancer struct {
	mu       sync.Mutex
	pool     []*backend
	nodes    map[string]*backend // by route, also after leaving the pool
	held     map[string]bool     // routes whose sessions wait
	released chan struct{}       // closed (and replaced) by release
	noHold   bool                // drain holds nothing: a drained node's sessions go to the pool at once
}

type backend struct {
	route, url string
	inflight   atomic.Int64
}

func newBalancer(noHold bool) *balancer {
	return &balancer{nodes: map[string]*backend{}, held: map[string]bool{}, released: make(chan struct{}), noHold: noHold}
}

func (b *balancer) add(route, url string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	be := &backend{route: route, url: url}
	b.nodes[route] = be
	b.pool = append(b.pool, be)
}

// drain takes route out of the pool, holds its sessions (unless noHold) and waits until
// its in-flight requests ended.
func (b *balancer) drain(t *testing.T, route string) {
	b.mu.Lock()
	be := b.nodes[route]
	b.held[route] = !b.noHold
	for i, p := range b.pool {
		if p == be {
			b.pool = append(b.pool[:i], b.pool[i+1:]...)
			break
		}
	}
	b.mu.Unlock()
	testutil.EventuallyTrue(t, within, "requests to "+route+" ended", func() bool { return be.inflight.Load() == 0 })
}

// release lets the sessions of a drained route go to the pool.
func (b *balancer) release(route string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.held, route)
	close(b.released)
	b.released = make(chan struct{})
}

// pick chooses the backend of session number i with id (empty before it has one) and
// counts the request in flight; for a held session it returns nil and a channel closed
// at the next release.
func (b *balancer) pick(i int, id string) (*backend, <-chan struct{}) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var be *backend
	if dot := strings.LastIndexByte(id, '.'); dot >= 0 {
		route := id[dot+1:]
		if b.held[route] {
			return nil, b.released
		}
		for _, p := range b.pool {
			if p.route == route {
				be = p
			}
		}
	}
	if be == nil {
		be = b.pool[i%len(b.pool)]
	}
	be.inflight.Add(1)
	return be, nil
}

// clientSession is what the client knows of one session: its id (from the last
// cookie) and the last counter value a successful response acknowledged.
type clientSession struct {
	id    string
	acked int
	phase int      // the phase of the last acknowledged request
	hist  []string // the last requests' outcomes, for diagnostics
	ids   []string // every id the session had
}

// maxHist bounds clientSession.hist.
const maxHist = 16

func (s *clientSession) note(at time.Duration, format string, args ...any) {
	if len(s.hist) == maxHist {
		s.hist = slices.Delete(s.hist, 0, 1)
	}
	s.hist = append(s.hist, fmt.Sprintf("%7.3fs ", at.Seconds())+fmt.Sprintf(format, args...))
}

// loadClient increments the counter of every session in turn from a few workers, each
// owning a fixed share of the sessions (so one session has one request at a time).
type loadClient struct {
	lb       *balancer
	http     *http.Client
	sessions []clientSession
	start    time.Time  // the test's clock
	mu       sync.Mutex // guards sessions, phase, lost
	phase    int
	lost     []string // counters that went backwards
	lostIdx  []int    // their sessions
	failed   atomic.Int64
}

func (c *loadClient) run(ctx context.Context, workers int) *sync.WaitGroup {
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				for i := w; i < len(c.sessions) && ctx.Err() == nil; i += workers {
					if err := c.request(ctx, i); err != nil {
						c.failed.Add(1)
					}
				}
			}
		}()
	}
	return &wg
}

func (c *loadClient) request(ctx context.Context, i int) error {
	c.mu.Lock()
	id := c.sessions[i].id
	c.mu.Unlock()
	be, wait := c.lb.pick(i, id)
	if be == nil {
		select {
		case <-wait:
		case <-ctx.Done():
		}
		return nil
	}
	defer be.inflight.Add(-1)
	err := c.try(ctx, i, be, id)
	if err != nil && ctx.Err() == nil {
		c.mu.Lock()
		c.sessions[i].note(time.Since(c.start), "phase %d: %v", c.phase, err)
		c.mu.Unlock()
	}
	return err
}

// try sends session i's request with cookie id to be and records the answer.
func (c *loadClient) try(ctx context.Context, i int, be *backend, id string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, be.url+"/counter", nil)
	if err != nil {
		return err
	}
	if id != "" {
		req.AddCookie(tomcat.SessionCookie(id))
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %w", be.route, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	sent := id
	for _, ck := range resp.Cookies() {
		if ck.Name == "JSESSIONID" {
			id = ck.Value
		}
	}
	if resp.StatusCode != http.StatusOK {
		// Like a browser, keep the cookie of any answer: a Go node whose binder renamed
		// the session but could not replicate the change to every member answers 503
		// with the new id, and a Tomcat node no longer finds the session under the old.
		if id != sent {
			c.mu.Lock()
			c.sessions[i].id = id
			c.mu.Unlock()
		}
		return fmt.Errorf("%s: %d for cookie %s (new cookie %s): %s", be.route, resp.StatusCode, sent, id,
			strings.TrimSpace(string(body)))
	}
	bodyID, n, _ := strings.Cut(strings.TrimSpace(string(body)), " ")
	count, err := strconv.Atoi(n)
	if err != nil || bodyID != id {
		return fmt.Errorf("%s: answer %q for cookie %s", be.route, strings.TrimSpace(string(body)), id)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	s := &c.sessions[i]
	s.note(time.Since(c.start), "phase %d: %s answered %s %d", c.phase, be.route, id, count)
	if !slices.Contains(s.ids, id) {
		s.ids = append(s.ids, id)
	}
	if count <= s.acked {
		c.lost = append(c.lost, fmt.Sprintf("session %d (%s, on %s in phase %d): counter %d after %d was acknowledged (as %s in phase %d)",
			i, id, be.route, c.phase, count, s.acked, s.id, s.phase))
		c.lostIdx = append(c.lostIdx, i)
	}
	s.id, s.acked, s.phase = id, count, c.phase
	return nil
}

// nextPhase starts a phase and waits until every session had a request acknowledged in it.
func (c *loadClient) nextPhase(t *testing.T, diag func(i int) string) {
	t.Helper()
	c.mu.Lock()
	c.phase++
	phase := c.phase
	c.mu.Unlock()
	bad := -1
	eventually(t, 2*within, func() error {
		c.mu.Lock()
		defer c.mu.Unlock()
		for i, s := range c.sessions {
			if s.phase < phase {
				bad = i
				return fmt.Errorf("session %d (%s) not served in phase %d (%d failed requests)", i, s.id, phase, c.failed.Load())
			}
		}
		return nil
	}, func() string { return diag(bad) })
}

// eventually is testutil.Eventually adding more() to the failure.
func eventually(t *testing.T, timeout time.Duration, cond func() error, more func() string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := testutil.Poll(ctx, cond); err != nil {
		t.Fatalf("not within %v: %v%s", timeout, err, more())
	}
}

// serveGo serves /app/counter (the test servlet's counter: a java.lang.Integer named
// counter, the answer "<id> <n>") behind g's delta middleware.
func serveGo(t *testing.T, g *goNode) string {
	t.Helper()
	mw, err := delta.NewMiddleware(g.m, delta.HTTPConfig{})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/app/counter", func(w http.ResponseWriter, r *http.Request) {
		s, n, err := counter.Next(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintf(w, "%s %d\n", s.ID(), n)
	})
	srv := httptest.NewServer(mw.Wrap(mux))
	t.Cleanup(srv.Close)
	return srv.URL + "/app"
}

// clusterLog matches the lines of a Tomcat log about membership and failed sends.
var clusterLog = regexp.MustCompile(`(?i)member|send|fail|refused`)

// logLines returns the lines of n's catalina.out about membership and sending (not
// stack traces), at most the last 40.
func logLines(n *tomcat.Node) string {
	b, _ := os.ReadFile(filepath.Join(n.Base, "logs", "catalina.out"))
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if l != "" && l[0] != '\t' && l[0] != ' ' && clusterLog.MatchString(l) {
			out = append(out, l)
		}
	}
	out = out[max(0, len(out)-40):]
	return "\n    " + strings.Join(out, "\n    ")
}

// waitReplicates waits until from replicates to the node has looks at: a session created
// on from is found there. Until a node counts the other as a member it sends it nothing,
// and a node answers HTTP before every other node counts it as a member.
func waitReplicates(t *testing.T, from *tomcat.Node, has func(id string) bool) {
	t.Helper()
	testutil.Eventually(t, within, func() error {
		out, err := from.Get("/counter", nil)
		if err != nil {
			return err
		}
		id, _, _ := strings.Cut(out, " ")
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		// Not there in time: try a new session (one created before the membership
		// changed never gets there).
		return testutil.Poll(ctx, func() error {
			if !has(id) {
				return fmt.Errorf("%s's session %s not replicated", from.Route, id)
			}
			return nil
		})
	})
}

// TestRollingMigration replaces a loaded three-node Tomcat cluster (acked replication)
// by Go nodes one at a time: every session survives and no acknowledged increment is
// lost.
func TestRollingMigration(t *testing.T) {
	tomcat.Skip(t)
	if testing.Short() {
		t.Skip("starts Tomcat: not in -short mode")
	}
	const (
		nodes    = 3
		sessions = 200
		workers  = 8
	)
	dir := t.TempDir()
	app := tomcat.Webapp(t, dir)
	ports := testutil.FreePorts(t, 2*nodes)
	slots := make([]tomcat.Member, nodes) // a Go node takes over its Tomcat's address and id
	for i := range slots {
		slots[i] = tomcat.Member{Port: ports[2*i], UniqueID: uid(byte(10 + i))}
	}
	others := func(i int) []tomcat.Member {
		var out []tomcat.Member
		for j, m := range slots {
			if j != i {
				out = append(out, m)
			}
		}
		return out
	}

	// GOTRIBES_MIGRATION_NO_HOLD=1: a drained node's sessions go to the other nodes at
	// once instead of waiting for its replacement, as a balancer that does not hold them
	// sends them. Before the Go node asked again for the sessions it lacked, that mode
	// lost an acknowledged write in about 1 of 8 runs (a Tomcat donor's snapshot missing a
	// session renamed meanwhile; see docs/migration.md); CI runs the test with the hold.
	noHold := os.Getenv("GOTRIBES_MIGRATION_NO_HOLD") == "1"
	lb := newBalancer(noHold)
	for i, m := range slots {
		t.Logf("t%d, then go%d: 127.0.0.1:%d", i+1, i+1, m.Port)
	}
	tomcats := make([]*tomcat.Node, nodes)
	for i := range tomcats {
		tomcats[i] = tomcat.Start(t, dir, app, tomcat.Config{Route: fmt.Sprintf("t%d", i+1), Port: slots[i].Port,
			UniqueID: slots[i].UniqueID, Members: others(i), HTTPPort: ports[2*i+1], SendOption: 6})
		lb.add(tomcats[i].Route, tomcats[i].URL)
	}
	for _, from := range tomcats {
		for _, to := range tomcats {
			if to != from {
				waitReplicates(t, from, func(id string) bool {
					got, err := to.Get("/get?name=counter", tomcat.SessionCookie(id))
					return err == nil && got == "java.lang.Integer|1"
				})
			}
		}
	}

	start := time.Now()
	c := &loadClient{lb: lb, http: &http.Client{Timeout: 30 * time.Second}, sessions: make([]clientSession, sessions),
		start: start}
	gos := make([]*goNode, nodes)
	traces := make([]*recvTrace, nodes)
	// diag describes session i: the client's last requests, and what each Go node holds
	// of it and received for it.
	diag := func(i int) string {
		if i < 0 {
			return ""
		}
		c.mu.Lock()
		s := c.sessions[i]
		hist, ids := slices.Clone(s.hist), slices.Clone(s.ids)
		c.mu.Unlock()
		var b strings.Builder
		fmt.Fprintf(&b, "\nsession %d had ids %v; the client's last requests:", i, ids)
		for _, h := range hist {
			b.WriteString("\n    " + h)
		}
		for j, g := range gos {
			if g == nil {
				continue
			}
			st := g.m.Stats()
			fmt.Fprintf(&b, "\n%s (state transfer from %s, %d repairs) holds:", g.m.JvmRoute(), st.TransferDonor,
				st.TransferRepairs)
			for _, id := range ids {
				if n, ok := delta.Attr[int](g.m.Find(id), "counter"); ok {
					fmt.Fprintf(&b, " %s (counter %d)", id, n)
				}
			}
			fmt.Fprintf(&b, "\n  received:%s", traces[j].report(ids))
		}
		fmt.Fprintf(&b, "\nthe test's clock started at %s", start.Format("15:04:05.000"))
		for _, tn := range tomcats {
			fmt.Fprintf(&b, "\n%s's log (membership and sending):%s", tn.Route, logLines(tn))
		}
		return b.String()
	}
	ctx, cancel := context.WithCancel(context.Background())
	wg := c.run(ctx, workers)
	stopLoad := sync.OnceFunc(func() { cancel(); wg.Wait() })
	t.Cleanup(stopLoad)
	c.nextPhase(t, diag) // every session exists on Tomcat

	for i, tn := range tomcats {
		t.Logf("%7.3fs: draining %s", time.Since(start).Seconds(), tn.Route)
		lb.drain(t, tn.Route)
		t.Logf("%7.3fs: stopping %s", time.Since(start).Seconds(), tn.Route)
		tn.Stop()
		t.Logf("%7.3fs: starting go%d", time.Since(start).Seconds(), i+1)
		traces[i] = newRecvTrace(start)
		gos[i] = startGoTraced(t, traces[i], fmt.Sprintf("go%d", i+1), slots[i].Port, slots[i].UniqueID, others(i), gos[:i]...)
		t.Logf("%7.3fs: go%d ready (state transfer from %s)", time.Since(start).Seconds(), i+1, gos[i].m.Stats().TransferDonor)
		for _, from := range tomcats[i+1:] {
			waitReplicates(t, from, func(id string) bool { return gos[i].m.Find(id) != nil })
		}
		lb.add(gos[i].m.JvmRoute(), serveGo(t, gos[i]))
		lb.release(tn.Route)
		t.Logf("%7.3fs: go%d serves", time.Since(start).Seconds(), i+1)
		c.nextPhase(t, diag) // every session served since, the moved ones by their new node
	}
	stopLoad()

	if len(c.lost) > 0 {
		t.Fatalf("%d acknowledged writes lost, e.g. %s%s", len(c.lost), c.lost[0], diag(c.lostIdx[0]))
	}
	for _, g := range gos {
		bad := -1
		eventually(t, within, func() error {
			for i, s := range c.sessions {
				n, ok := delta.Attr[int](g.m.Find(s.id), "counter")
				if !ok || n < s.acked {
					bad = i
					return fmt.Errorf("%s: session %d (%s) counter %d (%v), %d was acknowledged",
						g.m.JvmRoute(), i, s.id, n, ok, s.acked)
				}
			}
			return nil
		}, func() string { return diag(bad) })
	}
	if c.failed.Load() > 0 {
		t.Logf("%d requests failed during the migration (none acknowledged)", c.failed.Load())
	}
}
