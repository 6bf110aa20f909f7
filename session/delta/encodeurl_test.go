package delta_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gotribes/tribes/session/delta"
)

// TestEncodeURL: a client that keeps no cookies follows the links EncodeURL writes and
// stays in its session (Tomcat's encodeURL); a request that sent the cookie gets links
// without the id, as do links outside HTTPConfig.CookiePath, a request whose session was
// invalidated, and a request outside the middleware.
func TestEncodeURL(t *testing.T) {
	_, a, _, _ := three(t, delta.Config{})
	h := wrap(t, a, delta.HTTPConfig{CookiePath: "/app"}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/app/logout" {
			if err := delta.FromContext(r.Context()).Invalidate(); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
		} else {
			counter.ServeHTTP(w, r)
		}
		fmt.Fprintf(w, " %s %s", delta.EncodeURL(r, "/app/next?x=1"), delta.EncodeURL(r, "/other"))
	}))
	w := get(h, "/app/page", "")
	c := sessionCookie(t, w, "JSESSIONID")
	if c == nil {
		t.Fatalf("no session cookie: %q", w.Body)
	}
	link := "/app/next;jsessionid=" + c.Value + "?x=1"
	if got, want := w.Body.String(), "1 "+link+" /other"; got != want {
		t.Fatalf("a new session's page: %q, want %q", got, want)
	}
	if got, want := get(h, link, "").Body.String(), "2 "+link+" /other"; got != want {
		t.Errorf("the link followed without a cookie: %q, want %q", got, want)
	}
	if got, want := get(h, "/app/page", c.Value).Body.String(), "3 /app/next?x=1 /other"; got != want {
		t.Errorf("with the cookie: %q, want %q", got, want)
	}
	if got, want := get(h, "/app/logout;jsessionid="+c.Value, "").Body.String(), " /app/next?x=1 /other"; got != want {
		t.Errorf("after the session's invalidation: %q, want %q", got, want)
	}
	if got := delta.EncodeURL(httptest.NewRequest(http.MethodGet, "/app/page", nil), "/app/next"); got != "/app/next" {
		t.Errorf("outside the middleware: %q", got)
	}
	if got := delta.EncodeURL(nil, "/app/next"); got != "/app/next" {
		t.Errorf("nil request: %q", got)
	}
}
