package redisstore_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gotribes/tribes/session/redisstore"
)

// TestCookieMaxAgeNegative: as delta's (session/delta cookie_test.go): Tomcat's default
// session cookie max-age, -1, is a browser-session cookie, not "Max-Age=0" (what
// net/http writes for a negative http.Cookie.MaxAge), which would make the browser
// delete the new session's cookie at once.
func TestCookieMaxAgeNegative(t *testing.T) {
	r := startRedis(t)
	st := newStore(t, r, redisstore.Config{})
	mw, err := redisstore.NewMiddleware(st, redisstore.HTTPConfig{CookieMaxAge: -1})
	if err != nil {
		t.Fatalf("CookieMaxAge -1 (Tomcat's default, a browser-session cookie) refused: %v", err)
	}
	w := httptest.NewRecorder()
	mw.Wrap(counterHandler("a")).ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/", nil))
	sc := w.Header().Get("Set-Cookie")
	if !strings.HasPrefix(sc, "JSESSIONID=") {
		t.Fatalf("no session cookie (status %d): %q", w.Code, sc)
	}
	if strings.Contains(sc, "Max-Age=0") {
		t.Errorf("CookieMaxAge -1 accepted, but the new session's cookie deletes itself: Set-Cookie %q", sc)
	}
}

// TestURLSessionID: as delta's (session/delta cookie_test.go): a request without a
// session cookie continues the session its URL path names (";jsessionid=<id>", Tomcat's
// URL session tracking), the handler seeing the path without the parameter.
func TestURLSessionID(t *testing.T) {
	r := startRedis(t)
	st := newStore(t, r, redisstore.Config{})
	mw, err := redisstore.NewMiddleware(st, redisstore.HTTPConfig{})
	if err != nil {
		t.Fatal(err)
	}
	var path string
	h := mw.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path = r.URL.Path
		counterHandler("a").ServeHTTP(w, r)
	}))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/", nil))
	var id string
	for _, c := range w.Result().Cookies() {
		if c.Name == "JSESSIONID" {
			id = c.Value
		}
	}
	if id == "" {
		t.Fatalf("no session cookie: %d %q", w.Code, w.Body)
	}
	w = httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/app/counter;jsessionid="+id, nil))
	if got := w.Body.String(); got != "count=2" || path != "/app/counter" {
		t.Errorf("the id in the URL: %q at %q, want count=2 at /app/counter", got, path)
	}
}

// TestCookieDefaults: the zero HTTPConfig's cookie is "JSESSIONID=<id>; Path=/;
// HttpOnly; SameSite=Lax" without Max-Age (a browser-session cookie, Tomcat's default),
// plus Secure for a request that came over TLS. Path and SameSite differ from Tomcat's
// defaults (the context path; no SameSite), as HTTPConfig says.
func TestCookieDefaults(t *testing.T) {
	r := startRedis(t)
	st := newStore(t, r, redisstore.Config{})
	mw, err := redisstore.NewMiddleware(st, redisstore.HTTPConfig{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tls := range []bool{false, true} {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		if tls {
			req = httptest.NewRequest(http.MethodGet, "https://example.com/", nil)
		}
		w := httptest.NewRecorder()
		mw.Wrap(counterHandler("a")).ServeHTTP(w, req)
		sc := w.Header().Get("Set-Cookie")
		id, attrs, _ := strings.Cut(sc, "; ")
		want := "Path=/; HttpOnly; SameSite=Lax"
		if tls {
			want = "Path=/; HttpOnly; Secure; SameSite=Lax"
		}
		if !strings.HasPrefix(id, "JSESSIONID=") || len(id) != len("JSESSIONID=")+32 || attrs != want {
			t.Errorf("TLS %v: Set-Cookie %q, want JSESSIONID=<32 hex>; %s", tls, sc, want)
		}
	}
}
