package backup_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gotribes/tribes/session/backup"
)

// backupOf returns the index of the manager holding a backup copy of session id (a
// value it is not the primary of), or -1.
func backupOf(ms []*backup.Manager, id string) int {
	for i, m := range ms {
		if _, primary, ok := m.Map().Peek(id); ok && !primary {
			return i
		}
	}
	return -1
}

// TestRenameWhileDeadPrimaryListed: the primary n0 dies, and before the membership
// drops it, the balancer sends the client to the session's backup. The jvmRoute binding
// renames the session there; the old id's MSG_REMOVE cannot reach n0. The session must
// survive that: the 200 the client gets (counter 2) and the next request (counter 3)
// are served from it. Before, ChangeSessionID returned when the removal failed, after
// replmap had dropped the local entry (and the other members theirs): the session was
// in no map, the request's Replicate found nothing to send and answered 200, and the
// client's next request got a new, empty session.
func TestRenameWhileDeadPrimaryListed(t *testing.T) {
	ms, nodes := startManagerNodes(t, 3, backup.Config{})
	body, c := request(t, ms[0], "/", "")
	id := c.Value
	if body != id+" 1\n" {
		t.Fatalf("first request: %q", body)
	}
	b := backupOf(ms, id)
	if b <= 0 {
		t.Fatalf("no backup node of %s", id)
	}
	nodes[0].SetMaxMessageSize(1) // n0 died: every message to it fails, it is still listed
	base := strings.TrimSuffix(id, ".n0")
	body, nc := request(t, ms[b], "/", id)
	if nc == nil {
		t.Fatalf("failover to n%d: %q without a new cookie", b, body)
	}
	if want := nc.Value + " 2\n"; body != want || !strings.HasPrefix(nc.Value, base+".") {
		t.Fatalf("failover to n%d: %q (cookie %s), want %q", b, body, nc.Value, want)
	}
	if body, _ := request(t, ms[b], "/", nc.Value); body != nc.Value+" 3\n" {
		t.Fatalf("the request after the failover's 200: %q, want %s with counter 3", body, nc.Value)
	}
}

// TestFailoverToProxyWhileDeadPrimaryListed: the primary n0 dies, and before the
// membership drops it the balancer sends the client to the node holding only a proxy
// of the session. That node fetches the session from its backup and becomes the
// primary; that n0 misses the MSG_PROXY telling it so must not fail the request (a
// proxy that is not told only points at an older primary, as when Put's or a backup's
// MSG_PROXY is lost). Before, replmap.Map.Get returned the send error: the handler got
// no session (500 here) until the membership dropped n0, and the backup was left
// naming the proxy node as the primary.
func TestFailoverToProxyWhileDeadPrimaryListed(t *testing.T) {
	ms, nodes := startManagerNodes(t, 3, backup.Config{DisableJvmRouteBinder: true})
	body, c := request(t, ms[0], "/", "")
	id := c.Value
	if body != id+" 1\n" {
		t.Fatalf("first request: %q", body)
	}
	b := backupOf(ms, id)
	if b <= 0 {
		t.Fatalf("no backup node of %s", id)
	}
	p := 3 - b // the node holding a proxy
	nodes[0].SetMaxMessageSize(1)
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.AddCookie(&http.Cookie{Name: backup.CookieName, Value: id})
	w := httptest.NewRecorder()
	ms[p].Wrap(counter).ServeHTTP(w, r)
	if want := id + " 2\n"; w.Code != http.StatusOK || w.Body.String() != want {
		t.Fatalf("failover to the proxy node n%d: %d %q, want 200 %q", p, w.Code, w.Body, want)
	}
	if _, primary, ok := ms[p].Map().Peek(id); !ok || !primary {
		t.Errorf("n%d is not the primary after serving the session", p)
	}
	if body, _ := request(t, ms[b], "/", id); body != id+" 3\n" {
		t.Errorf("the backup node n%d next: %q, want counter 3", b, body)
	}
}
