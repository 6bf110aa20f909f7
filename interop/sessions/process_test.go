package sessionsinterop_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gotribes/tribes/internal/netbench"
	"github.com/gotribes/tribes/internal/testutil"
)

// sessionsNode starts `tribesdemo sessions` on loopback with the flags given (membership,
// interceptors and others), waits for its "ready" line and returns it with the page's URL.
func sessionsNode(t *testing.T, bin, route string, flags ...string) (*netbench.Proc, map[string]any, string) {
	t.Helper()
	args := append([]string{"sessions", "--bind", "127.0.0.1",
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
	p, c := visitPage(t, url, cookie)
	return p.Counter, c
}

// visitPage is visit returning the whole page.
func visitPage(t *testing.T, url, cookie string) (page, string) {
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
	return p, cookie
}

// pingFailure is the interceptor stack whose verification keeps peers out of the member
// list for a moment after start (and, for a static member, after it was found dead).
var pingFailure = []string{"--interceptors", "ping,tcpfailure"}

// A node killed with SIGKILL and started again at the same address with the same id gets
// every session back from the node that stayed up, although its membership may list that
// node only a moment after start (Config.MemberWait), and the node that stayed up takes
// its updates at once, whatever its failure detector found while it was down. One subtest
// per membership kind.
func TestRestartKeepsSessions(t *testing.T) {
	if testing.Short() {
		t.Skip("starts tribesdemo processes")
	}
	bin := netbench.Tribesdemo(t)
	t.Run("multicast", func(t *testing.T) {
		group, mport := netbench.Group(t.Name())
		mcast := append([]string{"--port", "4300", "--autobind", "200", "--mcast-addr", group,
			"--mcast-port", strconv.Itoa(mport), "--mcast-bind", "127.0.0.1"}, pingFailure...)
		restartKeepsSessions(t, bin, false, true, mcast, mcast)
	})
	// A static list never drops a member; the failure detector does. The nodes drop the
	// messages of non-members (the channel's sender check).
	static := func(stack []string) func(t *testing.T) {
		return func(t *testing.T) {
			p1, p2 := testutil.FreePorts(t, 1)[0], testutil.FreePorts(t, 1)[0]
			const id1, id2 = "000000000000000000000000000000a1", "000000000000000000000000000000a2"
			common := append([]string{"--autobind", "1", "--accept-non-members=false"}, stack...)
			restartKeepsSessions(t, bin, true, stack != nil,
				append([]string{"--port", strconv.Itoa(p1), "--id", id1, "--static", fmt.Sprintf("127.0.0.1:%d:%s", p2, id2)}, common...),
				append([]string{"--port", strconv.Itoa(p2), "--id", id2, "--static", fmt.Sprintf("127.0.0.1:%d:%s", p1, id1)}, common...))
		}
	}
	t.Run("static", static(nil))
	t.Run("static+ping,tcpfailure", static(pingFailure))
}

// restartKeepsSessions starts two nodes, makes sessions on the first, kills the second
// with SIGKILL and, once the first no longer lists it (when noticesDeath), starts it again.
// With static membership, the first must have dropped no message of the second.
func restartKeepsSessions(t *testing.T, bin string, static, noticesDeath bool, flags1, flags2 []string) {
	n1, _, url1 := sessionsNode(t, bin, "node1", flags1...)
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
	counter := 1 // of cookies[0], which the wait below visits
	if noticesDeath {
		testutil.EventuallyTrue(t, 30*time.Second, "node1 drops the killed node", func() bool {
			p, _ := visitPage(t, url1, cookies[0])
			counter = p.Counter
			return p.Members == 0
		})
	}
	_, ready, url2 := sessionsNode(t, bin, "node2", flags2...)
	if got := fmt.Sprint(ready["sessions"]); got != strconv.Itoa(sessions) {
		t.Fatalf("restarted node ready with %s sessions, want %d (ready line %v)", got, sessions, ready)
	}
	if ready["donor"] == "" {
		t.Errorf("ready line names no donor: %v", ready)
	}
	t.Logf("ready after restart: %v", ready)
	for i, c := range cookies {
		want := 2
		if i == 0 {
			want = counter + 1
		}
		if n, _ := visit(t, url2, c); n != want {
			t.Fatalf("session %d on the restarted node: counter %d, want %d", i, n, want)
		}
		// The update reached the node that stayed up: it did not drop the restarted
		// node's message as a non-member's.
		if n, _ := visit(t, url1, c); n != want+1 {
			t.Fatalf("session %d back on the node that stayed up: counter %d, want %d", i, n, want+1)
		}
	}
	if !static {
		return
	}
	// A static member that comes back is a member again for its first message, whatever
	// node1's failure detector found while it was down: node1 dropped nothing of it.
	n1.Shutdown(10 * time.Second)
	for _, e := range n1.Events() {
		if e.Kind == "stopped" {
			if e.Raw["nonMemberDropped"] != 0.0 || e.Raw["refusedNonMember"] != 0.0 {
				t.Fatalf("node1 refused messages of the restarted node as a non-member's: %s", e.Line)
			}
			return
		}
	}
	t.Fatalf("node1 printed no stopped line; stderr:\n%s", n1.Stderr())
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
			flags := append([]string{"--port", "4300", "--autobind", "200", "--mcast-addr", group,
				"--mcast-port", strconv.Itoa(mport), "--mcast-bind", "127.0.0.1", "--route-binder=" + strconv.FormatBool(binder)}, pingFailure...)
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
