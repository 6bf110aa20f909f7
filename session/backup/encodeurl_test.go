package backup_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gotribes/tribes/session/backup"
)

// TestEncodeURL: as delta's (session/delta encodeurl_test.go): a client that keeps no
// cookies follows the links EncodeURL writes and stays in its session, on the node that
// served it and on another one; with the cookie, outside Config.CookiePath and after the
// session's invalidation links carry no id.
func TestEncodeURL(t *testing.T) {
	ms := startManagers(t, 2, backup.Config{CookiePath: "/app", DisableJvmRouteBinder: true})
	page := func(m *backup.Manager, path, cookie string) (string, *httptest.ResponseRecorder) {
		t.Helper()
		r := httptest.NewRequest(http.MethodGet, path, nil)
		if cookie != "" {
			r.AddCookie(&http.Cookie{Name: backup.CookieName, Value: cookie})
		}
		w := httptest.NewRecorder()
		m.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			counter.ServeHTTP(w, r)
			fmt.Fprintf(w, "%s %s", backup.EncodeURL(r, "/app/next#top"), backup.EncodeURL(r, "/other"))
		})).ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			t.Fatalf("%s: %d %s", path, w.Code, w.Body)
		}
		return w.Body.String(), w
	}
	body, w := page(ms[0], "/app/page", "")
	var id string
	for _, c := range w.Result().Cookies() {
		if c.Name == backup.CookieName {
			id = c.Value
		}
	}
	if id == "" {
		t.Fatalf("no session cookie: %q", body)
	}
	link := "/app/next;jsessionid=" + id + "#top"
	if want := id + " 1\n" + link + " /other"; body != want {
		t.Fatalf("a new session's page: %q, want %q", body, want)
	}
	target, _, _ := strings.Cut(link, "#")
	if got, _ := page(ms[1], target, ""); got != id+" 2\n"+link+" /other" {
		t.Errorf("the link followed without a cookie, on the other node: %q, want the counter at 2 and the link", got)
	}
	if got, _ := page(ms[0], "/app/page", id); got != id+" 3\n/app/next#top /other" {
		t.Errorf("with the cookie: %q, want the links without the id", got)
	}
	if got, _ := page(ms[0], "/logout;jsessionid="+id, ""); got != "/app/next#top /other" {
		t.Errorf("after the session's invalidation: %q, want the links without the id", got)
	}
	if got := backup.EncodeURL(nil, "/app/next"); got != "/app/next" {
		t.Errorf("nil request: %q", got)
	}
}
