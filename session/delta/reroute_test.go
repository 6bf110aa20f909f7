package delta_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/gotribes/tribes/session/delta"
)

// TestMiddlewareRenameResponseLost: a failover request renames the session to its node's
// route on every node, but its response never reaches the client (the node died right
// after, or answered with an error the load balancer retried elsewhere). The client keeps
// sending the old id, to any node, including the one whose route the old id names: each
// must find the session rather than start a new one.
func TestMiddlewareRenameResponseLost(t *testing.T) {
	_, a, b, c := three(t, delta.Config{Replication: delta.ReplicateAcked})
	ha, hb, hc := wrap(t, a, delta.HTTPConfig{}, counter), wrap(t, b, delta.HTTPConfig{}, counter),
		wrap(t, c, delta.HTTPConfig{}, counter)
	idA := sessionCookie(t, get(ha, "/", ""), "JSESSIONID").Value
	base := strings.TrimSuffix(idA, ".a")

	// Served by B: renamed to .b everywhere; the client does not see the response.
	if w := get(hb, "/", idA); w.Body.String() != "2" {
		t.Fatalf("failover to B: %q", w.Body.String())
	}
	for name, n := range map[string]*node{"A": a, "C": c} {
		if n.m.Find(base+".b") == nil {
			t.Fatalf("%s did not apply the rename", name)
		}
	}

	// The old id on C: found under .b, renamed to .c.
	w := get(hc, "/", idA)
	if ck := sessionCookie(t, w, "JSESSIONID"); w.Body.String() != "3" || ck == nil || ck.Value != base+".c" {
		t.Fatalf("old id on C: body %q cookie %+v", w.Body.String(), ck)
	}
	// Again the old id, now on A, whose route it names: found under .c, renamed back to .a,
	// which is what the client has: no cookie needed.
	w = get(ha, "/", idA)
	if w.Body.String() != "4" || w.Header().Get("Set-Cookie") != "" {
		t.Fatalf("old id on A: body %q Set-Cookie %q", w.Body.String(), w.Header().Get("Set-Cookie"))
	}
	for name, n := range map[string]*node{"A": a, "B": b, "C": c} {
		s := n.m.Find(idA)
		if s == nil || n.m.Len() != 1 {
			t.Fatalf("%s: session under %s: %v, %d sessions", name, idA, s, n.m.Len())
		}
		if v, _ := delta.Attr[int](s, "count"); v != 4 {
			t.Errorf("%s: count %d", name, v)
		}
	}
}

// TestMiddlewareRerouteNotForNewIDs: the route lookup only follows route renames; an id
// changed at login (new random part) does not come back through it, on any node.
func TestMiddlewareRerouteNotForNewIDs(t *testing.T) {
	_, a, b, _ := three(t, delta.Config{Replication: delta.ReplicateAcked})
	login := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := delta.FromContext(r.Context()).ChangeID(); err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		counter(w, r)
	})
	ha, hb := wrap(t, a, delta.HTTPConfig{}, login), wrap(t, b, delta.HTTPConfig{}, counter)
	before := sessionCookie(t, get(hb, "/", ""), "JSESSIONID").Value // created on B: .b
	after := sessionCookie(t, get(ha, "/", before), "JSESSIONID").Value
	if strings.Split(after, ".")[0] == strings.Split(before, ".")[0] {
		t.Fatalf("login kept the random part: %s -> %s", before, after)
	}
	for _, h := range []http.Handler{wrap(t, a, delta.HTTPConfig{}, counter), hb} {
		if w := get(h, "/", before); w.Body.String() != "1" {
			t.Errorf("the pre-login id still reaches the session (body %q)", w.Body.String())
		}
	}
}

// TestMiddlewareRenameReplicationFails: a failover request whose rename (and change) one
// member does not acknowledge is answered 503, but with the new cookie: the members that
// took the rename know the session only under the new id (a Tomcat node's binder does not
// look for it under the old one), and a browser keeps the cookie of an error answer.
func TestMiddlewareRenameReplicationFails(t *testing.T) {
	_, a, b, c := three(t, delta.Config{Replication: delta.ReplicateAcked})
	ha, hb := wrap(t, a, delta.HTTPConfig{}, counter), wrap(t, b, delta.HTTPConfig{}, counter)
	idA := sessionCookie(t, get(ha, "/", ""), "JSESSIONID").Value
	idB := strings.TrimSuffix(idA, ".a") + ".b"

	remove := c.ch.AddMessageListener(failingSessions{func() bool { return true }})
	w := get(hb, "/", idA)
	remove()
	if ck := sessionCookie(t, w, "JSESSIONID"); w.Code != http.StatusServiceUnavailable || ck == nil || ck.Value != idB {
		t.Fatalf("failover to B with C failing: %d, cookie %+v", w.Code, ck)
	}
	if a.m.Find(idA) != nil || a.m.Find(idB) == nil {
		t.Fatalf("A did not apply the rename")
	}
	// The client follows the new cookie, here back to A: the session and its change are there.
	if w := get(ha, "/", idB); w.Code != http.StatusOK || w.Body.String() != "3" {
		t.Errorf("new cookie on A: %d %q", w.Code, w.Body.String())
	}
}
