package backup_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gotribes/tribes/session/backup"
)

// TestSeveralSessionCookies: a request with several JSESSIONID cookies (a stale one from
// another path or domain first, then the live one) continues the session the live one
// names. Tomcat tries each cookie until one names a valid session
// (CoyoteAdapter.parseSessionCookiesId), and so do delta's and redisstore's middlewares
// (sessionhttp.EachSessionID, up to sessionhttp.MaxCookies). Reading only the first
// cookie would give the user a new, empty session and overwrite the live one's cookie.
func TestSeveralSessionCookies(t *testing.T) {
	ms := startManagers(t, 2, backup.Config{DisableJvmRouteBinder: true})
	_, c := request(t, ms[0], "/", "")
	if c == nil {
		t.Fatal("no session")
	}
	id := c.Value

	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("Cookie", backup.CookieName+"=0123456789ABCDEF0123456789ABCDEF.n0; "+backup.CookieName+"="+id)
	w := httptest.NewRecorder()
	ms[0].Wrap(counter).ServeHTTP(w, r)
	if got, want := w.Body.String(), id+" 2\n"; got != want {
		t.Errorf("with a stale cookie before the live one: body %q, want %q (Set-Cookie %q)", strings.TrimSpace(got),
			strings.TrimSpace(want), w.Header().Get("Set-Cookie"))
	}
}

// TestOldIDBackToItsOwnNode: the case TestJvmRouteBinderFindsAnotherNodesRename leaves
// out. A session created on n0 fails over to n2, whose binder renames it to .n2 on every
// node; n2's response with the new cookie never leaves (it died, or the connection
// broke). The balancer sends the client's next request, still carrying the .n0 id, to n0
// again, its route. The package documentation promises that such a client "finds the
// session under this node's route, or under the route of the node that renamed it", as
// delta's middleware does (Manager.findRerouted): n0 looks under the other routes even
// though the id carries its own, and renames the session back to .n0.
func TestOldIDBackToItsOwnNode(t *testing.T) {
	ms := startManagers(t, 3, backup.Config{})
	_, c := request(t, ms[0], "/", "")
	id0 := c.Value
	base := strings.TrimSuffix(id0, ".n0")
	if body, c := request(t, ms[2], "/", id0); body != base+".n2 2\n" || c == nil || c.Value != base+".n2" {
		t.Fatalf("failover to n2: %q, cookie %+v", body, c)
	}
	// The client never got that cookie: it sends the old id to n0, its route.
	body, c := request(t, ms[0], "/", id0)
	if body != base+".n0 3\n" {
		t.Errorf("the old id back on n0: %q (cookie %+v); want the session renamed to %s.n0 with its counter at 3",
			body, c, base)
	}
}

// TestURLSessionID: as delta's (session/delta cookie_test.go): a request without a
// session cookie continues the session its URL path names (";jsessionid=<id>", Tomcat's
// URL session tracking), the handler seeing the path without the parameter.
func TestURLSessionID(t *testing.T) {
	ms := startManagers(t, 2, backup.Config{DisableJvmRouteBinder: true})
	_, c := request(t, ms[0], "/", "")
	if c == nil {
		t.Fatal("no session")
	}
	id := c.Value
	if body, _ := request(t, ms[0], "/;jsessionid="+id, ""); body != id+" 2\n" {
		t.Errorf("the id in the URL: %q, want %q", body, id+" 2\n")
	}
	if body, _ := request(t, ms[0], "/logout;jsessionid="+id, ""); body != "" {
		t.Errorf("/logout with the id in the URL: %q", body)
	}
	if body, c := request(t, ms[0], "/;jsessionid="+id, ""); c == nil || c.Value == id || body != c.Value+" 1\n" {
		t.Errorf("after the logout (the handler saw /logout): %q, cookie %+v; want a new session", body, c)
	}
}
