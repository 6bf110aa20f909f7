package tomcatinterop_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gotribes/tribes/internal/counter"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/internal/tomcat"
	"github.com/gotribes/tribes/session/delta"
	"github.com/gotribes/tribes/transport/nio"
)

// TestURLSessionID: Tomcat tracks sessions by cookie and by URL by default (the
// ";jsessionid=" path parameter that HttpServletResponse.encodeURL writes into links,
// always on the first page of a session, and which clients without cookies keep using).
// A request of such a link continues the session on Tomcat; served by the Go node next
// (the middleware of docs/migration.md, any path to the counter), it must continue the
// same session, not start a new one: the user would be logged out. The link the Go page
// writes with delta.EncodeURL takes the client back to Tomcat in the same session.
func TestURLSessionID(t *testing.T) {
	dir, app := setUp(t)
	ctx := context.Background()
	ports := testutil.FreePorts(t, 3)
	goMember := tomcat.Member{Port: ports[2], UniqueID: uid(76)}
	tc := tomcat.Config{Route: "t1", Port: ports[0], UniqueID: uid(75), HTTPPort: ports[1], SendOption: 6,
		Members: []tomcat.Member{goMember}}
	t1 := tomcat.Start(t, dir, app, tc)
	ch := startChannel(t, goMember.Port, goMember.UniqueID, []tomcat.Member{{Port: tc.Port, UniqueID: tc.UniqueID}},
		nio.DefaultConfig())
	wctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	if err := ch.WaitForMembers(wctx, 1); err != nil {
		t.Fatal(err)
	}
	g := newGoNode(t, ch, delta.JavaCodec{}, delta.Config{JvmRoute: "go1"})
	if err := g.m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := g.m.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	mw, err := delta.NewMiddleware(g.m, delta.HTTPConfig{})
	if err != nil {
		t.Fatal(err)
	}
	// The counter on every path: the test is about the session, not the routing.
	srv := httptest.NewServer(mw.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, n, err := counter.Next(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		// The link Tomcat's page would write with encodeURL, for a client without cookies.
		fmt.Fprintf(w, "%s %d %s\n", s.ID(), n, delta.EncodeURL(r, "/app/counter"))
	})))
	t.Cleanup(srv.Close)
	get := func(url string) string {
		t.Helper()
		resp, err := http.Get(url) // no cookie: the id is in the URL only
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %s %s", url, resp.Status, b)
		}
		return strings.TrimSpace(string(b))
	}

	out, err := t1.Get("/counter", nil)
	if err != nil {
		t.Fatal(err)
	}
	id, _, _ := strings.Cut(out, " ")
	base := strings.TrimSuffix(id, ".t1")
	if out := get(t1.URL + "/counter;jsessionid=" + id); out != id+" 2" {
		t.Fatalf("Tomcat with the id in the URL: %q, want %q", out, id+" 2")
	}
	testutil.EventuallyTrue(t, within, "the counter 2 on Go", func() bool {
		n, _ := delta.Attr[int](g.m.Find(id), "counter")
		return n == 2
	})
	out = get(srv.URL + "/app/counter;jsessionid=" + id)
	f := strings.Fields(out)
	if len(f) != 3 || !strings.HasPrefix(f[0], base+".") || f[1] != "3" {
		t.Fatalf("Go with the session id in the URL (;jsessionid=%s, which Tomcat just continued): %q, want the "+
			"session %s.* with counter 3; Go has %d sessions", id, out, base, g.m.Len())
	}
	// Go's page links back with its id (delta.EncodeURL); the client follows the link to
	// Tomcat, which continues the session from it (acked replication: Tomcat has the
	// counter at 3 and the id Go gave the session).
	if want := "/app/counter;jsessionid=" + f[0]; f[2] != want {
		t.Fatalf("Go's encoded link %q, want %q", f[2], want)
	}
	if out := get(strings.TrimSuffix(t1.URL, "/app") + f[2]); !strings.HasPrefix(out, base+".") || !strings.HasSuffix(out, " 4") {
		t.Fatalf("Tomcat following Go's encoded link %s: %q, want the session %s.* with counter 4", f[2], out, base)
	}
}
