package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gotribes/tribes/internal/testenv"
	"golang.org/x/net/websocket"
)

// TestSessionsInBrowser runs "tribesdemo sessions" as three processes on 127.0.0.1 with
// static membership, behind a round-robin reverse proxy that fails over to the next node
// when one does not answer, and browses it with headless Chromium (one browser, so the
// session cookie lives as in a person's browser): the visit counter goes up by one on
// every page load although each load is served by another node, and keeps going after
// one node is killed with SIGKILL.
func TestSessionsInBrowser(t *testing.T) {
	browser := findChromium()
	if browser == "" {
		testenv.Missing(t, "headless Chromium is not installed (Debian package chromium; scripts/install-test-deps.sh installs it)")
	}
	bin := buildDemo(t)

	// Three nodes: receiver ports and HTTP ports picked free now, ids fixed.
	ports := freePorts(t, 6)
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
	cdp := startChromium(t, browser)

	visit := func(i int) (counter int, route string) {
		t.Helper()
		text := cdp.load(t, fmt.Sprintf("%s/?visit=%d", proxy.URL, i))
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

func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var out []int
	var lns []net.Listener
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		out = append(out, ln.Addr().(*net.TCPAddr).Port)
	}
	for _, ln := range lns {
		ln.Close()
	}
	return out
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

// devtools drives one page of a headless Chromium through the DevTools protocol.
type devtools struct {
	ws     *websocket.Conn
	id     int
	events []cdpMessage // received while waiting for a reply
}

type cdpMessage struct {
	ID     int             `json:"id"`
	Method string          `json:"method"`
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Message string `json:"message"`
	} `json:"error"`
}

// startChromium starts headless Chromium with a fresh profile and remote debugging on a
// loopback port, and connects to its page.
func startChromium(t *testing.T, browser string) *devtools {
	t.Helper()
	profile := t.TempDir()
	cmd := exec.Command(browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--no-first-run", "--no-proxy-server",
		"--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0", "--remote-allow-origins=*",
		"--user-data-dir="+profile, "about:blank")
	logs := &tailWriter{}
	cmd.Stdout, cmd.Stderr = logs, logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // its helpers join its process group
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
		}
		// The browser's own process group (pgid = its pid): helpers it left behind.
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		<-exited
		if t.Failed() {
			t.Logf("chromium output:\n%s", logs.String())
		}
	})

	// Chromium writes the port it chose to DevToolsActivePort in the profile.
	var port string
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if b, err := os.ReadFile(filepath.Join(profile, "DevToolsActivePort")); err == nil {
			if p, _, ok := strings.Cut(string(b), "\n"); ok && p != "" {
				port = p
				break
			}
		}
		select {
		case <-exited:
			t.Fatalf("chromium exited:\n%s", logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("chromium did not open its DevTools port:\n%s", logs.String())
		}
	}
	var wsURL string
	for deadline := time.Now().Add(15 * time.Second); wsURL == ""; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("chromium lists no page")
		}
		resp, err := noKeepAlive.Get("http://127.0.0.1:" + port + "/json/list")
		if err != nil {
			continue
		}
		var targets []struct{ Type, WebSocketDebuggerURL string }
		_ = json.NewDecoder(resp.Body).Decode(&targets)
		resp.Body.Close()
		for _, tg := range targets {
			if tg.Type == "page" && tg.WebSocketDebuggerURL != "" {
				wsURL = tg.WebSocketDebuggerURL
				break
			}
		}
	}
	ws, err := websocket.Dial(wsURL, "", "http://127.0.0.1/")
	if err != nil {
		t.Fatalf("devtools websocket: %v", err)
	}
	t.Cleanup(func() { ws.Close() })
	d := &devtools{ws: ws}
	if _, err := d.call("Page.enable", nil); err != nil {
		t.Fatal(err)
	}
	return d
}

func (d *devtools) receive(timeout time.Duration) (cdpMessage, error) {
	var m cdpMessage
	_ = d.ws.SetReadDeadline(time.Now().Add(timeout))
	err := websocket.JSON.Receive(d.ws, &m)
	return m, err
}

// call sends a command and waits for its reply, keeping the events that come meanwhile.
func (d *devtools) call(method string, params any) (json.RawMessage, error) {
	d.id++
	req := map[string]any{"id": d.id, "method": method}
	if params != nil {
		req["params"] = params
	}
	if err := websocket.JSON.Send(d.ws, req); err != nil {
		return nil, err
	}
	for {
		m, err := d.receive(20 * time.Second)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", method, err)
		}
		if m.ID == 0 {
			d.events = append(d.events, m)
			continue
		}
		if m.ID != d.id {
			continue
		}
		if m.Error != nil {
			return nil, fmt.Errorf("%s: %s", method, m.Error.Message)
		}
		return m.Result, nil
	}
}

// waitEvent waits for an event of the given method.
func (d *devtools) waitEvent(method string, timeout time.Duration) error {
	for i, m := range d.events {
		if m.Method == method {
			d.events = d.events[i+1:]
			return nil
		}
	}
	d.events = nil
	deadline := time.Now().Add(timeout)
	for {
		m, err := d.receive(time.Until(deadline))
		if err != nil {
			return fmt.Errorf("waiting for %s: %w", method, err)
		}
		if m.Method == method {
			return nil
		}
	}
}

// load navigates to url, waits for the load event and returns the page's text.
func (d *devtools) load(t *testing.T, url string) string {
	t.Helper()
	d.events = nil
	res, err := d.call("Page.navigate", map[string]any{"url": url})
	if err != nil {
		t.Fatal(err)
	}
	var nav struct{ ErrorText string }
	_ = json.Unmarshal(res, &nav)
	if nav.ErrorText != "" {
		t.Fatalf("navigating to %s: %s", url, nav.ErrorText)
	}
	if err := d.waitEvent("Page.loadEventFired", 20*time.Second); err != nil {
		t.Fatal(err)
	}
	res, err = d.call("Runtime.evaluate", map[string]any{"expression": "document.body.innerText", "returnByValue": true})
	if err != nil {
		t.Fatal(err)
	}
	var ev struct {
		Result struct {
			Value string `json:"value"`
		} `json:"result"`
	}
	if err := json.Unmarshal(res, &ev); err != nil {
		t.Fatalf("evaluate: %v: %s", err, res)
	}
	return ev.Result.Value
}
