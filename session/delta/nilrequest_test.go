package delta_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"testing"

	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/session/delta"
)

// docs/sessions.md's handler, verbatim: "sess := delta.FromContext(r.Context()) // nil
// outside the middleware or for a skipped path" followed by sess.Get and sess.Set. The
// page says methods on a nil *Session return ErrNoSession or zero values; FromContext
// returns a nil *Request there, whose methods behave the same (they dereferenced it
// before: the documented handler panicked on a skipped path, the page's own SkipPath, or
// in a unit test without the middleware).
func TestDocHandlerOnSkippedPath(t *testing.T) {
	cart := func(w http.ResponseWriter, r *http.Request) {
		sess := delta.FromContext(r.Context()) // nil outside the middleware or for a skipped path
		items, _ := sess.Get("items")          // (any, bool); no session yet: nil, false
		n, _ := items.(int)
		if err := sess.Set("items", n+1); err != nil { // creates the session if needed
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprintf(w, "%d items\n", n+1)
	}
	n := startReady(t, channeltest.NewNetwork(), delta.Config{})
	h := wrap(t, n, delta.HTTPConfig{SkipPath: regexp.MustCompile(`^/(static/|healthz$)`)}, http.HandlerFunc(cart))
	var panicked any
	func() {
		defer func() { panicked = recover() }()
		get(h, "/healthz", "")
	}()
	if panicked != nil {
		t.Errorf("the documented handler on a skipped path panics: %v", panicked)
	}
	var rq *delta.Request // what FromContext returns outside the middleware
	func() {
		defer func() { panicked = recover() }()
		if err := rq.Set("x", 1); !errors.Is(err, delta.ErrNoSession) {
			t.Errorf("Set on FromContext's nil: %v, want ErrNoSession", err)
		}
	}()
	if panicked != nil {
		t.Errorf("Set on FromContext's nil panics: %v", panicked)
	}
}

// Every method of FromContext's nil *Request: readers return zero values, the others
// ErrNoSession.
func TestNilRequest(t *testing.T) {
	rq := delta.FromContext(httptest.NewRequest(http.MethodGet, "/", nil).Context())
	if rq != nil {
		t.Fatalf("FromContext outside the middleware: %v", rq)
	}
	if s := rq.Session(); s != nil {
		t.Errorf("Session: %v", s)
	}
	if id, rid, oid := rq.ID(), rq.RequestedID(), rq.OriginalID(); id != "" || rid != "" || oid != "" {
		t.Errorf("ID %q, RequestedID %q, OriginalID %q, want empty", id, rid, oid)
	}
	if v, ok := rq.Get("x"); v != nil || ok {
		t.Errorf("Get: %v %v", v, ok)
	}
	if s, err := rq.GetOrCreate(); s != nil || !errors.Is(err, delta.ErrNoSession) {
		t.Errorf("GetOrCreate: %v %v, want ErrNoSession", s, err)
	}
	for name, err := range map[string]error{"Set": rq.Set("x", 1), "Remove": rq.Remove("x"), "Invalidate": rq.Invalidate()} {
		if !errors.Is(err, delta.ErrNoSession) {
			t.Errorf("%s: %v, want ErrNoSession", name, err)
		}
	}
	if id, err := rq.ChangeID(); id != "" || !errors.Is(err, delta.ErrNoSession) {
		t.Errorf("ChangeID: %q %v, want ErrNoSession", id, err)
	}
}
