package sessionsinterop_test

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gotribes/tribes/internal/netbench"
)

// sessionsNode starts `tribesdemo sessions` on loopback with the flags given (membership
// and others) and the ping,tcpfailure stack (whose verification keeps peers out of the
// member list for a moment after start), waits for its "ready" line and returns it with
// the page's URL.
func sessionsNode(t *testing.T, bin, route string, flags ...string) (*netbench.Proc, map[string]any, string) {
	t.Helper()
	args := append([]string{"sessions", "--bind", "127.0.0.1", "--interceptors", "ping,tcpfailure",
		"--http", "127.0.0.1:0", "--route", route, "--acked", "--seconds", "120"}, flags...)
	p := netbench.StartProc(t, route, netbench.ProcOptions{}, append([]string{bin}, args...)...)
	p.Started(t, 30*time.Second)
	var ready map[string]any
	var url string
	ok := p.WaitFor(30*time.Second, func() bool {
		for _, e := range p.Events() {
			switch e.Kind {
			case "started":
				url, _ = e.Raw["url"].(string)
			case "ready":
				ready = e.Raw
				return true
			case "state-transfer-failed":
				t.Fatalf("%s: %s", route, e.Line)
			}
		}
		return false
	})
	if !ok || url == "" {
		t.Fatalf("%s not ready (url %q); stderr:\n%s", route, url, p.Stderr())
	}
	return p, ready, url
}

// visit GETs url's page as JSON with the session cookie (none: a new session) and returns
// the counter and the cookie (the one sent, unless the response set another).
func visit(t *testing.T, url, cookie string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url+"?format=json", nil)
	if err != nil {
		t.Fatal(err)
	}
	if cookie != "" {
		req.AddCookie(&http.Cookie{Name: "JSESSIONID", Value: cookie})
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	var p page
	if err := json.NewDecoder(resp.Body).Decode(&p); err != nil {
		t.Fatal(err)
	}
	for _, c := range resp.Cookies() {
		if c.Name == "JSESSIONID" {
			cookie = c.Value
		}
	}
	return p.Counter, cookie
}

// A node killed with SIGKILL and started again gets every session back from the node
// that stayed up, although its membership may list that node only a moment after start
// (Config.MemberWait).
func TestRestartKeepsSessions(t *testing.T) {
	if testing.Short() {
		t.Skip("starts tribesdemo processes")
	}
	bin := netbench.Tribesdemo(t)
	t.Run("multicast", func(t *testing.T) {
		group, mport := netbench.Group(t.Name())
		mcast := []string{"--port", "4300", "--autobind", "200", "--mcast-addr", group,
			"--mcast-port", strconv.Itoa(mport), "--mcast-bind", "127.0.0.1"}
		restartKeepsSessions(t, bin, mcast, mcast)
	})
	t.Run("static", func(t *testing.T) {
		p1, p2 := freePort(t), freePort(t)
		const id1, id2 = "000000000000000000000000000000a1", "000000000000000000000000000000a2"
		restartKeepsSessions(t, bin,
			[]string{"--port", strconv.Itoa(p1), "--autobind", "1", "--id", id1, "--static", fmt.Sprintf("127.0.0.1:%d:%s", p2, id2)},
			[]string{"--port", strconv.Itoa(p2), "--autobind", "1", "--id", id2, "--static", fmt.Sprintf("127.0.0.1:%d:%s", p1, id1)})
	})
}

func restartKeepsSessions(t *testing.T, bin string, flags1, flags2 []string) {
	_, _, url1 := sessionsNode(t, bin, "node1", flags1...)
	n2, _, _ := sessionsNode(t, bin, "node2", flags2...)
	const sessions = 30
	cookies := make([]string, sessions)
	for i := range cookies {
		n, c := visit(t, url1, "")
		if n != 1 || c == "" {
			t.Fatalf("new session: counter %d cookie %q", n, c)
		}
		cookies[i] = c
	}
	n2.Kill()
	_, ready, url2 := sessionsNode(t, bin, "node2", flags2...)
	if got := fmt.Sprint(ready["sessions"]); got != strconv.Itoa(sessions) {
		t.Fatalf("restarted node ready with %s sessions, want %d (ready line %v)", got, sessions, ready)
	}
	if ready["donor"] == "" {
		t.Errorf("ready line names no donor: %v", ready)
	}
	t.Logf("ready after restart: %v", ready)
	for i, c := range cookies {
		if n, _ := visit(t, url2, c); n != 2 {
			t.Fatalf("session %d on the restarted node: counter %d, want 2", i, n)
		}
	}
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Behind a balancer without stickiness, --route-binder=false keeps the session id as it
// is when another node serves it; by default it is renamed to that node's route.
func TestRouteBinderFlag(t *testing.T) {
	if testing.Short() {
		t.Skip("starts tribesdemo processes")
	}
	bin := netbench.Tribesdemo(t)
	for _, binder := range []bool{true, false} {
		t.Run(fmt.Sprint("route-binder=", binder), func(t *testing.T) {
			group, mport := netbench.Group(t.Name())
			flags := []string{"--port", "4300", "--autobind", "200", "--mcast-addr", group,
				"--mcast-port", strconv.Itoa(mport), "--mcast-bind", "127.0.0.1", "--route-binder=" + strconv.FormatBool(binder)}
			_, _, url1 := sessionsNode(t, bin, "node1", flags...)
			_, _, url2 := sessionsNode(t, bin, "node2", flags...)
			_, id := visit(t, url1, "")
			n, after := visit(t, url2, id)
			if n != 2 {
				t.Fatalf("counter %d on the other node", n)
			}
			renamed := after != id
			if renamed != binder || binder && !strings.HasSuffix(after, ".node2") || !binder && !strings.HasSuffix(after, ".node1") {
				t.Errorf("id %s served by node2 came back as %s", id, after)
			}
		})
	}
}
