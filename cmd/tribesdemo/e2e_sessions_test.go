package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/gotribes/tribes/internal/testenv"
	"github.com/gotribes/tribes/internal/testutil"
)

// TestSessionsInBrowser runs "tribesdemo sessions" as three processes on 127.0.0.1 with
// static membership, behind a round-robin reverse proxy that fails over to the next node
// when one does not answer, and browses it with headless Chromium (one browser, so the
// session cookie lives as in a person's browser): the visit counter goes up by one on
// every page load although each load is served by another node, and keeps going after
// one node is killed with SIGKILL.
func TestSessionsInBrowser(t *testing.T) {
	chromium := findChromium()
	if chromium == "" {
		testenv.Missing(t, "headless Chromium is not installed (Debian package chromium; scripts/install-test-deps.sh installs it)")
	}
	bin := buildDemo(t)

	// Three nodes: receiver ports and HTTP ports picked free now, ids fixed.
	ports := testutil.FreePorts(t, 6)
	var nodes []*sessionNode
	var specs []string
	for i := range 3 {
		specs = append(specs, fmt.Sprintf("127.0.0.1:%d:%032x", ports[i], i+1))
	}
	for i := range 3 {
		var others []string
		for j, s := range specs {
			if j != i {
				others = append(others, s)
			}
		}
		nodes = append(nodes, startSessionNode(t, bin, fmt.Sprintf("node%d", i+1),
			"--port", strconv.Itoa(ports[i]), "--autobind", "1", "--id", fmt.Sprintf("%032x", i+1),
			"--static", strings.Join(others, ","), "--http", fmt.Sprintf("127.0.0.1:%d", ports[3+i]),
			"--route", fmt.Sprintf("node%d", i+1), "--seconds", "120"))
	}
	for _, n := range nodes {
		n.waitEvent(t, "ready", 30*time.Second)
	}

	proxy := newFailoverProxy(t, nodes)
	page := startChromium(t, chromium)

	visit := func(i int) (counter int, route string) {
		t.Helper()
		text := page.load(t, fmt.Sprintf("%s/?visit=%d", proxy.URL, i))
		m := regexp.MustCompile(`Visit (\d+)`).FindStringSubmatch(text)
		r := regexp.MustCompile(`jvmRoute (node\d)`).FindStringSubmatch(text)
		if m == nil || r == nil {
			t.Fatalf("visit %d: the page shows:\n%s", i, text)
		}
		counter, _ = strconv.Atoi(m[1])
		t.Logf("visit %d: counter %d, served by %s", i, counter, r[1])
		return counter, r[1]
	}

	routes := map[string]int{}
	const before, after = 6, 6
	for i := 1; i <= before; i++ {
		c, r := visit(i)
		routes[r]++
		if c != i {
			t.Fatalf("visit %d: counter %d (served by %s)", i, c, r)
		}
	}
	if len(routes) != 3 {
		t.Errorf("the proxy should have spread %d visits over the 3 nodes: %v", before, routes)
	}

	victim := nodes[1]
	if err := victim.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = victim.cmd.Wait()
	t.Logf("killed %s (pid %d)", victim.route, victim.cmd.Process.Pid)

	routes = map[string]int{}
	for i := before + 1; i <= before+after; i++ {
		c, r := visit(i)
		routes[r]++
		if c != i {
			t.Fatalf("visit %d after killing %s: counter %d (served by %s)", i, victim.route, c, r)
		}
	}
	if routes[victim.route] > 0 || len(routes) != 2 {
		t.Errorf("after the kill the visits should go to the 2 live nodes: %v", routes)
	}
	if n := proxy.failovers.Load(); n == 0 {
		t.Error("the proxy never had to fail over")
	}
}

// findChromium returns the path of a Chromium (or Chrome) binary, or "".
func findChromium() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// sessionNode is one "tribesdemo sessions" process.
type sessionNode struct {
	route  string
	cmd    *exec.Cmd
	url    string
	events chan map[string]any
}

func startSessionNode(t *testing.T, bin, route string, args ...string) *sessionNode {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"sessions"}, args...)...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &tailWriter{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	n := &sessionNode{route: route, cmd: cmd, events: make(chan map[string]any, 64)}
	go func() {
		defer close(n.events)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) == nil {
				select {
				case n.events <- m:
				default:
				}
			}
		}
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil { // still ours to stop: SIGTERM, then SIGKILL
			_ = cmd.Process.Signal(syscall.SIGTERM)
			done := make(chan struct{})
			go func() { _ = cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				_ = cmd.Process.Kill()
				<-done
			}
		}
		if t.Failed() {
			t.Logf("%s stderr:\n%s", route, stderr.String())
		}
	})
	started := n.waitEvent(t, "started", 30*time.Second)
	n.url = strings.TrimSuffix(started["url"].(string), "/")
	return n
}

func (n *sessionNode) waitEvent(t *testing.T, event string, timeout time.Duration) map[string]any {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case m, ok := <-n.events:
			if !ok {
				t.Fatalf("%s exited before %q", n.route, event)
			}
			if m["event"] == event {
				return m
			}
		case <-deadline:
			t.Fatalf("%s: no %q within %v", n.route, event, timeout)
		}
	}
}

// tailWriter keeps the last 8 KiB written to it.
type tailWriter struct {
	mu  sync.Mutex
	buf []byte
}

func (w *tailWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	if len(w.buf) > 8<<10 {
		w.buf = w.buf[len(w.buf)-8<<10:]
	}
	return len(p), nil
}

func (w *tailWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return string(w.buf)
}

// failoverProxy is a round-robin reverse proxy: each request goes to the next node; if
// that node cannot be reached the request moves on to the one after (safe here: the
// browser only sends GETs without a body).
type failoverProxy struct {
	*httptest.Server
	backends  []string // host:port
	next      atomic.Uint64
	failovers atomic.Int64
	tr        *http.Transport
}

func newFailoverProxy(t *testing.T, nodes []*sessionNode) *failoverProxy {
	t.Helper()
	p := &failoverProxy{tr: &http.Transport{Proxy: nil, DialContext: (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
		ResponseHeaderTimeout: 15 * time.Second}}
	for _, n := range nodes {
		p.backends = append(p.backends, strings.TrimPrefix(n.url, "http://"))
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.Out.URL.Scheme = "http"
			r.Out.URL.Host = "backend" // chosen by RoundTrip
			r.Out.Host = r.In.Host
		},
		Transport: p,
	}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Only page loads rotate over the nodes: the browser's own extra requests (the
		// favicon) would otherwise shift the rotation.
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(func() {
		p.Close()
		p.tr.CloseIdleConnections()
	})
	return p
}

func (p *failoverProxy) RoundTrip(r *http.Request) (*http.Response, error) {
	first := p.next.Add(1) - 1
	var errs []error
	for i := range p.backends {
		out := r.Clone(r.Context())
		out.URL.Host = p.backends[(first+uint64(i))%uint64(len(p.backends))]
		resp, err := p.tr.RoundTrip(out)
		if err == nil {
			return resp, nil
		}
		p.failovers.Add(1)
		errs = append(errs, err)
	}
	return nil, errors.Join(errs...)
}

// browser is one tab of a headless Chromium driven by chromedp.
type browser struct{ ctx context.Context }

// startChromium starts headless Chromium (chromedp gives it a fresh profile, removed at
// the end) and opens a tab.
func startChromium(t *testing.T, path string) *browser {
	t.Helper()
	logs := &tailWriter{}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("no-proxy-server", true), chromedp.Flag("disable-component-update", true), chromedp.CombinedOutput(logs))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	logf := func(format string, args ...any) { fmt.Fprintf(logs, format+"\n", args...) }
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithLogf(logf), chromedp.WithErrorf(logf))
	t.Cleanup(func() {
		cancel()
		cancelAlloc() // stops the browser and waits for it
		if t.Failed() {
			t.Logf("chromium output:\n%s", logs.String())
		}
	})
	// The first call starts the browser, which lives as long as ctx: no timeout on it
	// (chromedp's own read timeout bounds the start).
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting chromium: %v\n%s", err, logs.String())
	}
	return &browser{ctx: ctx}
}

// load navigates to url, waits for the load event and returns the page's text.
func (b *browser) load(t *testing.T, url string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		t.Fatalf("loading %s: %v", url, err)
	}
	text, err := chromedp.Run(ctx, chromedp.Evaluate[string]("document.body.innerText"))
	if err != nil {
		t.Fatalf("reading the page of %s: %v", url, err)
	}
	return text
}
