package redisstore_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gotribes/tribes/session/redisstore"
)

// TestEncodeURL: as delta's (session/delta encodeurl_test.go): a client that keeps no
// cookies follows the links EncodeURL writes and stays in its session; with the cookie
// and outside HTTPConfig.CookiePath links carry no id.
func TestEncodeURL(t *testing.T) {
	r := startRedis(t)
	st := newStore(t, r, redisstore.Config{})
	mw, err := redisstore.NewMiddleware(st, redisstore.HTTPConfig{CookiePath: "/app"})
	if err != nil {
		t.Fatal(err)
	}
	h := mw.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		counterHandler("a").ServeHTTP(w, r)
		fmt.Fprintf(w, " %s %s", redisstore.EncodeURL(r, "next"), redisstore.EncodeURL(r, "/other"))
	}))
	serve := func(path, cookie string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		if cookie != "" {
			req.AddCookie(&http.Cookie{Name: "JSESSIONID", Value: cookie})
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w
	}
	w := serve("/app/page", "")
	var id string
	for _, c := range w.Result().Cookies() {
		if c.Name == "JSESSIONID" {
			id = c.Value
		}
	}
	if id == "" {
		t.Fatalf("no session cookie: %d %q", w.Code, w.Body)
	}
	link := "next;jsessionid=" + id
	if got, want := w.Body.String(), "count=1 "+link+" /other"; got != want {
		t.Fatalf("a new session's page: %q, want %q", got, want)
	}
	if got, want := serve("/app/"+link, "").Body.String(), "count=2 "+link+" /other"; got != want {
		t.Errorf("the link followed without a cookie: %q, want %q", got, want)
	}
	if got, want := serve("/app/page", id).Body.String(), "count=3 next /other"; got != want {
		t.Errorf("with the cookie: %q, want %q", got, want)
	}
	if got := redisstore.EncodeURL(nil, "/app/next"); got != "/app/next" {
		t.Errorf("nil request: %q", got)
	}
}
