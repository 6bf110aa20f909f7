package delta_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gotribes/tribes/session/delta"
)

// TestCookieMaxAgeNegative: Tomcat's session cookie max-age is -1 by default
// (SessionCookieConfig.getMaxAge, <cookie-config><max-age>-1</max-age>): a browser-session
// cookie. A Tomcat user who carries that value over gets a cookie the browser keeps, not
// the "Max-Age=0" net/http writes for a negative http.Cookie.MaxAge, which would delete
// the cookie at once and give every request of that client a new session.
func TestCookieMaxAgeNegative(t *testing.T) {
	_, a, _, _ := three(t, delta.Config{})
	mw, err := delta.NewMiddleware(a.m, delta.HTTPConfig{CookieMaxAge: -1})
	if err != nil {
		t.Fatalf("CookieMaxAge -1 (Tomcat's default, a browser-session cookie) refused: %v", err)
	}
	h := mw.Wrap(counter)
	w := get(h, "/", "")
	sc := w.Header().Get("Set-Cookie")
	if !strings.HasPrefix(sc, "JSESSIONID=") {
		t.Fatalf("no session cookie: %q", sc)
	}
	if strings.Contains(sc, "Max-Age=0") {
		t.Errorf("CookieMaxAge -1 accepted, but the new session's cookie deletes itself: Set-Cookie %q", sc)
	}
	// The client that follows the cookie comes back without one: a new session each time.
	c := sessionCookie(t, w, "JSESSIONID")
	if c != nil && c.MaxAge < 0 {
		t.Errorf("browser drops the cookie (parsed MaxAge %d): the next request starts a new session", c.MaxAge)
	}
}

// TestSeveralSessionCookies: of a request's JSESSIONID cookies (stale ones of another
// path or domain first, then the live one), the middleware continues the session of the
// first that names one, as Tomcat's CoyoteAdapter.parseSessionCookiesId tries each; it
// tries at most sessionhttp's four, so the fifth is not looked up.
func TestSeveralSessionCookies(t *testing.T) {
	_, a, _, _ := three(t, delta.Config{})
	h := wrap(t, a, delta.HTTPConfig{}, counter)
	id := sessionCookie(t, get(h, "/", ""), "JSESSIONID").Value
	serve := func(stale int) string {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		for range stale {
			r.AddCookie(&http.Cookie{Name: "JSESSIONID", Value: "0123456789ABCDEF0123456789ABCDEF.a"})
		}
		r.AddCookie(&http.Cookie{Name: "JSESSIONID", Value: id})
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Body.String()
	}
	if got := serve(1); got != "2" {
		t.Errorf("with a stale cookie before the live one: count %q, want 2", got)
	}
	if got := serve(4); got != "1" {
		t.Errorf("with four stale cookies before the live one: count %q, want 1 (a new session)", got)
	}
}

// TestURLSessionID: a request without a session cookie that names its session in its URL
// path (";jsessionid=<id>", Tomcat's URL session tracking) continues that session, and
// the handler sees the path without the parameter; a session cookie overrides the URL's
// id, as Tomcat's do.
func TestURLSessionID(t *testing.T) {
	_, a, _, _ := three(t, delta.Config{})
	var path string
	h := wrap(t, a, delta.HTTPConfig{}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path = r.URL.Path
		counter.ServeHTTP(w, r)
	}))
	id := sessionCookie(t, get(h, "/", ""), "JSESSIONID").Value
	if got := get(h, "/app/counter;jsessionid="+id, "").Body.String(); got != "2" || path != "/app/counter" {
		t.Errorf("the id in the URL: count %q at %q, want 2 at /app/counter", got, path)
	}
	other := sessionCookie(t, get(h, "/", ""), "JSESSIONID").Value
	if got := get(h, "/app;jsessionid="+id, other).Body.String(); got != "2" || path != "/app" {
		t.Errorf("a cookie and another id in the URL: count %q at %q, want the cookie's session's 2 at /app", got, path)
	}
	if got := get(h, "/;jsessionid="+id, "").Body.String(); got != "3" {
		t.Errorf("the URL's session after the cookie's request: count %q, want 3", got)
	}
}
