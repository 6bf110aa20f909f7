package redisstore_test

import (
	"errors"
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
	if errors.Is(err, redisstore.ErrInvalidConfig) {
		return // refused: fine
	}
	if err != nil {
		t.Fatal(err)
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
