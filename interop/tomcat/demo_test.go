package tomcatinterop_test

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
	"github.com/gotribes/tribes/internal/tomcat"
)

// TestDemoBesideTomcat runs `tribesdemo sessions --codec java --context 'localhost#/app'`
// beside a Tomcat node serving the test web application at /app, both with acknowledged
// replication and without jvmRoute binding (so a session keeps its id on either side),
// and visits one session on both with the same JSESSIONID cookie: the demo's counter is
// the java.lang.Integer named counter the servlet reads and increments, both ways, for a
// session created on either side.
func TestDemoBesideTomcat(t *testing.T) {
	tomcat.Skip(t)
	if testing.Short() {
		t.Skip("starts Tomcat and tribesdemo: not in -short mode")
	}
	bin := netbench.Tribesdemo(t)
	dir := t.TempDir()
	app := tomcat.SharedWebapp(t)
	ports := testutil.FreePorts(t, 3) // Tomcat receiver, Tomcat HTTP, demo receiver
	tcID, demoID := uid(1), uid(2)
	tc := tomcat.Start(t, dir, app, tomcat.Config{Route: "t1", NoJvmRoute: true, Port: ports[0], UniqueID: tcID,
		HTTPPort: ports[1], SendOption: 6, Members: []tomcat.Member{{Port: ports[2], UniqueID: demoID}}})

	demo := netbench.StartProc(t, "tribesdemo", netbench.ProcOptions{}, bin, "sessions",
		"--codec", "java", "--context", appName, "--route", "go1", "--route-binder=false",
		"--port", strconv.Itoa(ports[2]), "--autobind", "1", "--id", fmt.Sprintf("%x", demoID[:]),
		"--static-protocol", "--static", fmt.Sprintf("127.0.0.1:%d:%x", ports[0], tcID[:]), "--http", "127.0.0.1:0")
	demo.Started(t, 30*time.Second)
	var url string
	if !demo.WaitFor(60*time.Second, func() bool {
		for _, e := range demo.Events() {
			switch e.Kind {
			case "started":
				url, _ = e.Raw["url"].(string)
			case "ready":
				return true
			case "state-transfer-failed":
				t.Fatalf("tribesdemo: %s", e.Line)
			}
		}
		return false
	}) {
		t.Fatalf("tribesdemo not ready; stderr:\n%s", demo.Stderr())
	}

	// tomcatSees waits until the servlet reads the session's counter as the Integer want.
	tomcatSees := func(id string, want int) {
		t.Helper()
		testutil.Eventually(t, within, func() error {
			got, err := tc.Get("/get?name=counter", tomcat.SessionCookie(id))
			if err != nil {
				return err
			}
			if w := "java.lang.Integer|" + strconv.Itoa(want); got != w {
				return fmt.Errorf("Tomcat reads counter as %q, want %q", got, w)
			}
			return nil
		})
	}
	// tomcatCounts increments the counter on Tomcat and checks the id and the new value.
	tomcatCounts := func(id string, want int) {
		t.Helper()
		got, err := tc.Get("/counter", tomcat.SessionCookie(id))
		if w := id + " " + strconv.Itoa(want); err != nil || got != w {
			t.Fatalf("Tomcat /counter: %q, %v; want %q", got, err, w)
		}
	}
	// demoCounts increments the counter on the demo's page (with the cookie of id) and
	// checks the session it served and the new value. Tomcat's replication is acked
	// (channelSendOptions 6, and ReplicationValve sends before the buffered answer goes
	// out): its answer came after the demo had applied the change, so no wait is needed.
	demoCounts := func(id string, want int) {
		t.Helper()
		p, cookie := demoVisit(t, url, id)
		if p.Counter != want || p.SessionID != id || cookie != "" {
			t.Fatalf("demo page: counter %d of session %q (new cookie %q), want %d of %q", p.Counter, p.SessionID, cookie, want, id)
		}
	}

	// A session created on the demo.
	p, cookie := demoVisit(t, url, "")
	if p.Counter != 1 || cookie == "" || cookie != p.SessionID {
		t.Fatalf("new session on the demo: counter %d, session %q, cookie %q", p.Counter, p.SessionID, cookie)
	}
	id := cookie
	demoCounts(id, 2)
	demoCounts(id, 3)
	tomcatSees(id, 3)
	tomcatCounts(id, 4)
	tomcatCounts(id, 5)
	demoCounts(id, 6)
	tomcatSees(id, 6)

	// A session created on Tomcat.
	out, err := tc.Get("/counter", nil)
	id, n, _ := strings.Cut(out, " ")
	if err != nil || n != "1" || strings.Contains(id, ".") {
		t.Fatalf("new session on Tomcat (no jvmRoute: no route suffix): %q, %v", out, err)
	}
	demoCounts(id, 2)
	tomcatSees(id, 2)
	tomcatCounts(id, 3)
	demoCounts(id, 4)
}

// demoPage is the JSON form of the demo's page (cmd/tribesdemo's pageData).
type demoPage struct {
	SessionID string `json:"sessionId"`
	Counter   int    `json:"counter"`
}

var demoClient = &http.Client{Timeout: 30 * time.Second}

// demoVisit loads the demo's page as JSON with the session cookie id (none if empty) and
// returns it with the JSESSIONID cookie the answer set ("" if none).
func demoVisit(t *testing.T, url, id string) (demoPage, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url+"?format=json", nil)
	if err != nil {
		t.Fatal(err)
	}
	if id != "" {
		req.AddCookie(tomcat.SessionCookie(id))
	}
	resp, err := demoClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var p demoPage
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(&p); err != nil {
		t.Fatal(err)
	}
	var cookie string
	for _, c := range resp.Cookies() {
		if c.Name == "JSESSIONID" {
			cookie = c.Value
		}
	}
	return p, cookie
}
