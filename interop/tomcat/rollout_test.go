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

// add puts a node in the pool, and wakes the requests that waited for a pool.
func (b *balancer) add(route, url string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	be := &backend{route: route, url: url}
	b.nodes[route] = be
	b.pool = append(b.pool, be)
	b.wake()
}

// wake closes (and replaces) released: the requests waiting on it pick again.
func (b *balancer) wake() {
	close(b.released)
	b.released = make(chan struct{})
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
	b.wake()
}

// pick chooses the backend of session number i with id (empty before it has one) and
// counts the request in flight; for a held session, or while the pool is empty, it
// returns nil and a channel closed at the next release or add.
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
		if len(b.pool) == 0 {
			return nil, b.released
		}
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
	// Close waits for the requests being served, which replicate regardless of the client.
	cleanupWithin(t, g.m.JvmRoute()+"'s HTTP server", stopWithin, srv.Close)
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

// rolloutSlots picks the addresses of n nodes: each slot's receiver port and uniqueId
// (a replacement takes over the replaced node's), the HTTP port of a Tomcat node in each,
// and others(i), the static members of slot i's node.
func rolloutSlots(t *testing.T, n int) (slots []tomcat.Member, httpPorts []int, others func(i int) []tomcat.Member) {
	t.Helper()
	ports := testutil.FreePorts(t, 2*n)
	slots, httpPorts = make([]tomcat.Member, n), make([]int, n)
	for i := range slots {
		slots[i], httpPorts[i] = tomcat.Member{Port: ports[2*i], UniqueID: uid(byte(10 + i))}, ports[2*i+1]
	}
	return slots, httpPorts, func(i int) []tomcat.Member {
		var out []tomcat.Member
		for j, m := range slots {
			if j != i {
				out = append(out, m)
			}
		}
		return out
	}
}

// rollout is a loaded cluster whose nodes are replaced one at a time, each replacement
// taking the replaced node's address and uniqueId (its slot): the client, and the nodes
// of each kind by slot, nil where none runs or ran.
type rollout struct {
	start   time.Time // the test's clock
	lb      *balancer
	c       *loadClient
	gos     []*goNode
	traces  []*recvTrace // what each Go node received
	tomcats []*tomcat.Node
	// stop stops the client and waits up to stopWithin for its workers (once; the same
	// error after).
	stop func() error
}

// newRollout starts the test's clock for a cluster of slots nodes behind lb.
func newRollout(lb *balancer, slots, sessions int) *rollout {
	start := time.Now()
	return &rollout{start: start, lb: lb, gos: make([]*goNode, slots), traces: make([]*recvTrace, slots),
		tomcats: make([]*tomcat.Node, slots),
		c: &loadClient{lb: lb, http: &http.Client{Timeout: 30 * time.Second}, sessions: make([]clientSession, sessions),
			start: start}}
}

// logf logs with the test's clock.
func (r *rollout) logf(t *testing.T, format string, args ...any) {
	t.Helper()
	t.Logf("%7.3fs: "+format, append([]any{time.Since(r.start).Seconds()}, args...)...)
}

// load starts the client's workers and waits until every session exists.
func (r *rollout) load(t *testing.T, workers int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	wg := r.c.run(ctx, workers)
	r.stop = sync.OnceValue(func() error {
		cancel()
		if !doneWithin(stopWithin, wg.Wait) {
			return fmt.Errorf("the client's workers did not end within %v", stopWithin)
		}
		return nil
	})
	t.Cleanup(func() {
		if err := r.stop(); err != nil {
			t.Error(err)
		}
	})
	r.c.nextPhase(t, r.diag)
}

// startGo starts the Go node of slot i as route (startGoTraced), tracing what it receives.
func (r *rollout) startGo(t *testing.T, i int, route string, m tomcat.Member, members []tomcat.Member,
	peers ...*goNode) *goNode {
	t.Helper()
	r.traces[i] = newRecvTrace(r.start)
	r.gos[i] = startGoTraced(t, r.traces[i], route, m.Port, m.UniqueID, members, peers...)
	return r.gos[i]
}

// diag describes session i: the client's last requests; what each Go node holds of it
// and received for it; what each running Tomcat node holds of it, and each Tomcat node's
// log lines about membership and sending.
func (r *rollout) diag(i int) string {
	if i < 0 {
		return ""
	}
	c := r.c
	c.mu.Lock()
	s := c.sessions[i]
	hist, ids := slices.Clone(s.hist), slices.Clone(s.ids)
	c.mu.Unlock()
	var b strings.Builder
	fmt.Fprintf(&b, "\nsession %d had ids %v; the client's last requests:", i, ids)
	for _, h := range hist {
		b.WriteString("\n    " + h)
	}
	for j, g := range r.gos {
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
		fmt.Fprintf(&b, "\n  received:%s", r.traces[j].report(ids))
	}
	fmt.Fprintf(&b, "\nthe test's clock started at %s", r.start.Format("15:04:05.000"))
	for _, tn := range r.tomcats {
		if tn == nil {
			continue
		}
		if tn.Pid() != 0 {
			fmt.Fprintf(&b, "\n%s holds:", tn.Route)
			held, err := tomcatCounters(tn)
			for _, id := range ids {
				if n, ok := held[id]; ok {
					fmt.Fprintf(&b, " %s (counter %d)", id, n)
				}
			}
			if err != nil {
				fmt.Fprintf(&b, " (%v)", err)
			}
		}
		fmt.Fprintf(&b, "\n%s's log (membership and sending):%s", tn.Route, logLines(tn))
	}
	return b.String()
}

// tomcatCounters reads the counter of every session Tomcat node n holds (the test
// page's /counters, which touches no session): -1 for a session without one.
func tomcatCounters(n *tomcat.Node) (map[string]int, error) {
	out, err := n.Get("/counters", nil)
	if err != nil {
		return nil, err
	}
	held := map[string]int{}
	for l := range strings.Lines(out) {
		id, v, ok := strings.Cut(strings.TrimSpace(l), " ")
		if !ok {
			return nil, fmt.Errorf("%s's /counters: line %q", n.Route, l)
		}
		c, err := strconv.Atoi(v)
		if err != nil {
			c = -1
		}
		held[id] = c
	}
	return held, nil
}

// checkNoneLost stops the client and fails the test if an answer showed a counter at or
// below one acknowledged before.
func (r *rollout) checkNoneLost(t *testing.T) {
	t.Helper()
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	if len(r.c.lost) > 0 {
		t.Fatalf("%d acknowledged writes lost, e.g. %s%s", len(r.c.lost), r.c.lost[0], r.diag(r.c.lostIdx[0]))
	}
	if r.c.failed.Load() > 0 {
		t.Logf("%d requests failed during the rollout (none acknowledged)", r.c.failed.Load())
	}
}

// checkHolds waits until a node (name) holds every session under its current id with
// at least its acknowledged counter: counters gives the node's counter by id.
func (r *rollout) checkHolds(t *testing.T, name string, counters func() (map[string]int, error)) {
	t.Helper()
	bad := -1
	eventually(t, within, func() error {
		held, err := counters()
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		for i, s := range r.c.sessions {
			if n, ok := held[s.id]; !ok || n < s.acked {
				bad = i
				return fmt.Errorf("%s: session %d (%s) counter %d (held: %v), %d was acknowledged", name, i, s.id, n, ok,
					s.acked)
			}
		}
		return nil
	}, func() string { return r.diag(bad) })
}

// goCounters is checkHolds' counters for Go node g: the counters of the client's sessions.
func (r *rollout) goCounters(g *goNode) func() (map[string]int, error) {
	return func() (map[string]int, error) {
		held := map[string]int{}
		for _, s := range r.c.sessions {
			if n, ok := delta.Attr[int](g.m.Find(s.id), "counter"); ok {
				held[s.id] = n
			}
		}
		return held, nil
	}
}
