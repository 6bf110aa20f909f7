package backup_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/session/backup"
)

// TestRequestDuringRename: a failover sends a page's parallel requests, all with the
// old id, to one node. While the first one's jvmRoute rename is under way (its first
// message, the session's copy under the new id to its backup, held here), a second
// request with the old id must still find the session: it must not get a new, empty
// session, whose cookie would replace the user's. Before, ChangeSessionID removed the old
// id (the local entry first) before it put the session under the new one, and a lookup
// between the two found neither.
func TestRequestDuringRename(t *testing.T) {
	g := newGate()
	ms, _ := startManagerNodesWith(t, 3, backup.Config{}, map[int]channel.Interceptor{1: g})
	ctx := context.Background()
	_, c := request(t, ms[0], "/", "")
	id := c.Value
	base := strings.TrimSuffix(id, ".n0")
	s, err := ms[1].Find(ctx, id) // n1 takes the session over, still under its old id
	if err != nil || s == nil {
		t.Fatalf("n1 takes the session over: %v, %v", s, err)
	}
	g.armCopy(base + ".n1")
	renamed := make(chan error, 1)
	go func() { renamed <- ms[1].ChangeSessionID(ctx, s, base+".n1") }()
	<-g.held // the rename's first message is held

	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.AddCookie(&http.Cookie{Name: backup.CookieName, Value: id})
	w := httptest.NewRecorder()
	ms[1].Wrap(counter).ServeHTTP(w, r)
	close(g.after)
	if err := <-renamed; err != nil {
		t.Fatalf("rename: %v", err)
	}
	for _, ck := range w.Result().Cookies() {
		if ck.Name == backup.CookieName && !strings.HasPrefix(ck.Value, base+".") {
			t.Fatalf("a request during the rename got a new session %s (%d %q), replacing %s", ck.Value, w.Code, w.Body, id)
		}
	}
	if w.Code == http.StatusOK && !strings.HasPrefix(w.Body.String(), base+".") {
		t.Fatalf("a request during the rename served another session: %q", w.Body)
	}
	body, _ := request(t, ms[1], "/", base+".n1")
	if !strings.HasPrefix(body, base+".n1 ") || strings.HasSuffix(body, " 1\n") {
		t.Errorf("after the rename: %q, want %s.n1 with its counter above 1", body, base)
	}
}
