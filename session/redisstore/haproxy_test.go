package redisstore_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/session/redisstore"
)

// haproxyConfig is a round-robin balancer without any stickiness in front of the
// servers; a dead server is retried on another one (redispatch) and taken out by a
// health check.
func haproxyConfig(port int, servers []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `global
  maxconn 256
defaults
  mode http
  timeout connect 2s
  timeout client 20s
  timeout server 20s
  retries 3
  option redispatch 1
  option http-server-close
  timeout check 5s
frontend fe
  bind 127.0.0.1:%d
  default_backend nodes
backend nodes
  balance roundrobin
`, port)
	for i, s := range servers {
		fmt.Fprintf(&b, "  server n%d %s check inter 200ms fall 2 rise 1\n", i+1, s)
	}
	return b.String()
}

// startHAProxy runs haproxy -db with cfg on port and stops it by PID when the test ends.
func startHAProxy(t *testing.T, port int, cfg string) {
	t.Helper()
	bin := lookPath(t, "haproxy")
	file := filepath.Join(t.TempDir(), "haproxy.cfg")
	if err := os.WriteFile(file, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-f", file, "-db")
	out := &testutil.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start haproxy: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("haproxy output:\n%s", out.String())
		}
	})
	testutil.Eventually(t, testutil.WaitLimit, func() error {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), time.Second)
		if err == nil {
			c.Close()
		}
		return err
	})
}

// goNode is one of the balanced Go nodes: an HTTP server with its own store on the
// shared Redis.
type goNode struct {
	name string
	srv  *http.Server
	done chan struct{}
}

func startGoNode(t *testing.T, r *redisServer, name string, port int) *goNode {
	t.Helper()
	st := newStore(t, r, redisstore.Config{})
	mw, err := redisstore.NewMiddleware(st, redisstore.HTTPConfig{})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		t.Fatal(err)
	}
	n := &goNode{name: name, srv: &http.Server{Handler: mw.Wrap(counterHandler(name))}, done: make(chan struct{})}
	go func() {
		defer close(n.done)
		_ = n.srv.Serve(ln)
	}()
	t.Cleanup(n.stop)
	return n
}

// stop closes the node's listener and connections and waits for its server to end.
func (n *goNode) stop() {
	_ = n.srv.Close()
	<-n.done
}

// Behind HAProxy (round robin, no stickiness) three Go nodes share one Redis: a client
// with one cookie is answered by each node in turn and its counter goes 1..N with no
// loss. Then one node is stopped: the other two go on serving the session, still
// counting without a gap. Restarted, it serves the session again: a node holds nothing
// that a restart could lose.
func TestHAProxyRoundRobinSharesSessions(t *testing.T) {
	lookPath(t, "haproxy")
	r := startRedis(t)
	ports := testutil.FreePorts(t, 4)
	var addrs []string
	nodes := map[string]*goNode{}
	for i, p := range ports[1:] {
		name := "node" + strconv.Itoa(i+1)
		nodes[name] = startGoNode(t, r, name, p)
		addrs = append(addrs, "127.0.0.1:"+strconv.Itoa(p))
	}
	startHAProxy(t, ports[0], haproxyConfig(ports[0], addrs))
	lb := "http://127.0.0.1:" + strconv.Itoa(ports[0]) + "/"
	c := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

	// HAProxy's health checks mark the servers up within a few hundred milliseconds.
	testutil.Eventually(t, testutil.WaitLimit, func() error {
		seen := map[string]bool{}
		for range 6 {
			status, _, node, _ := get(t, c, lb+"warmup", "")
			if status != 200 {
				return fmt.Errorf("warm-up request answered %d", status)
			}
			seen[node] = true
		}
		if len(seen) != 3 {
			return fmt.Errorf("warm-up requests reached %v", seen)
		}
		return nil
	})

	const n = 30
	cookie := ""
	served := map[string]int{}
	var order []string
	count := 0
	request := func() string {
		t.Helper()
		count++
		status, body, node, set := get(t, c, lb, cookie)
		if status != 200 || body != "count="+strconv.Itoa(count) {
			t.Fatalf("request %d (node %q): %d %q, want count=%d (order so far %v)", count, node, status, body, count, order)
		}
		if cookie == "" {
			cookie = set
		} else if set != "" {
			t.Fatalf("request %d: the cookie changed to %q", count, set)
		}
		served[node]++
		order = append(order, node)
		return node
	}
	for range n {
		request()
	}
	for i := 1; i < len(order); i++ {
		if order[i] == order[i-1] {
			t.Fatalf("requests %d and %d both went to %s: not round robin (%v)", i, i+1, order[i], order)
		}
	}
	if len(served) != 3 || served["node1"] != n/3 || served["node2"] != n/3 || served["node3"] != n/3 {
		t.Fatalf("requests per node %v, want %d each", served, n/3)
	}

	// Stop node2 mid-run: HAProxy retries its requests on the others.
	nodes["node2"].stop()
	clear(served)
	for range n {
		request()
	}
	if served["node2"] != 0 || served["node1"] == 0 || served["node3"] == 0 {
		t.Fatalf("after node2 stopped, requests per node %v", served)
	}

	// Restart node2 on its port with a new store: it serves the session where it is.
	nodes["node2"] = startGoNode(t, r, "node2", ports[2])
	clear(served)
	testutil.Eventually(t, testutil.WaitLimit, func() error {
		if request() != "node2" {
			return fmt.Errorf("the restarted node2 got no request yet (%v)", served)
		}
		return nil
	})
	st := newStore(t, r, redisstore.Config{})
	s, err := st.Load(context.Background(), cookie)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := redisstore.Attr[int](s, "count"); got != count || s.Version() != uint64(count) {
		t.Fatalf("stored count %d version %d after %d requests", got, s.Version(), count)
	}
	t.Logf("%d requests of one session through HAProxy, 3 nodes, one stopped and restarted", count)
}
