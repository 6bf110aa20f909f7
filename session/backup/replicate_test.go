package backup_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/session/backup"
)

// visits adds one to the session's "counter", records the visit as its own attribute
// "visit<n>" and prints the session's attribute names.
var visits = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	s, err := backup.FromContext(r.Context()).Create()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	n, _, _ := s.Get("counter")
	c, _ := n.(int)
	if err := s.Set("counter", c+1); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	if err := s.Set(fmt.Sprint("visit", c+1), "x"); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	names := s.AttributeNames()
	slices.Sort(names)
	fmt.Fprintln(w, strings.Join(names, " "))
})

func visit(t *testing.T, m *backup.Manager, id string) (code int, body, cookie string) {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	if id != "" {
		r.AddCookie(&http.Cookie{Name: backup.CookieName, Value: id})
	}
	w := httptest.NewRecorder()
	m.Wrap(visits).ServeHTTP(w, r)
	for _, c := range w.Result().Cookies() {
		if c.Name == backup.CookieName {
			cookie = c.Value
		}
	}
	return w.Code, w.Body.String(), cookie
}

// A request whose diff could not reach the backup gets 503, but its changes stay in the
// primary's session, where the next requests see them and answer 200. Those changes
// reach the backup with the next replication (the session in full): otherwise the
// backup's copy would differ from the primary's for good, and a failover would lose
// state that acknowledged responses showed (here "visit2", which request 3's 200 listed).
func TestFailedDiffChangesReachBackup(t *testing.T) {
	ms, nodes := startManagerNodes(t, 2, backup.Config{DisableJvmRouteBinder: true})
	code, _, id := visit(t, ms[0], "")
	if code != http.StatusOK || id == "" {
		t.Fatalf("first request: %d, cookie %q", code, id)
	}
	nodes[1].SetMaxMessageSize(1) // the backup loses every message: request 2's diff fails
	if code, _, _ := visit(t, ms[0], id); code != http.StatusServiceUnavailable {
		t.Fatalf("request whose diff did not reach the backup: %d, want 503", code)
	}
	nodes[1].SetMaxMessageSize(0)
	code, body, _ := visit(t, ms[0], id)
	if code != http.StatusOK || !strings.Contains(body, "visit2") {
		t.Fatalf("request 3: %d %q, want 200 listing visit2", code, body)
	}
	v, _, ok := ms[1].Map().Peek(id)
	if !ok {
		t.Fatal("the backup holds no session")
	}
	if names := v.(*backup.Session).AttributeNames(); !slices.Contains(names, "visit2") {
		t.Errorf("backup's copy after request 3's 200 (which listed visit2): %v, want visit2 among them", names)
	}
	// The primary leaves: the backup serves the session, with visit2.
	if err := ms[0].Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "the backup becomes the primary", func() bool {
		_, primary, _ := ms[1].Map().Peek(id)
		return primary
	})
	if code, body, _ := visit(t, ms[1], id); code != http.StatusOK || !strings.Contains(body, "visit2") {
		t.Fatalf("after failover: %d %q, want visit2 that request 3 acknowledged", code, body)
	}
}

// A session whose creation could not reach a backup (the Put's send failed) gets one
// with its next request once the other node, a map member, takes messages again: that
// request's Replicate publishes the session in full before its diff, and its 200 means
// the changes are on two nodes, as the middleware promises (503 when they cannot reach
// a backup).
func TestSessionWithoutBackupGetsOne(t *testing.T) {
	ms, nodes := startManagerNodes(t, 2, backup.Config{DisableJvmRouteBinder: true})
	nodes[1].SetMaxMessageSize(1) // the only other node loses the new session's backup
	code, _, id := visit(t, ms[0], "")
	if id == "" {
		t.Fatalf("first request: %d without a cookie", code)
	}
	nodes[1].SetMaxMessageSize(0)
	if len(ms[0].Map().Members()) != 1 {
		t.Fatal("the other node is no longer a map member")
	}
	code, body, _ := visit(t, ms[0], id)
	if code != http.StatusOK {
		t.Fatalf("second request: %d %q, want 200 (the other node takes messages again)", code, body)
	}
	v, _, ok := ms[1].Map().Peek(id)
	if !ok {
		t.Fatalf("request answered 200 (%q) with the session on its primary only: the other node holds no copy", body)
	}
	names := v.(*backup.Session).AttributeNames()
	slices.Sort(names)
	if got := strings.Join(names, " ") + "\n"; got != body {
		t.Errorf("the other node's copy after the second request's 200 (%q): %q, want the same attributes", body, got)
	}
}
