package redisstore_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gotribes/tribes/session/delta"
	"github.com/gotribes/tribes/session/redisstore"
)

// FromContext returns nil outside the middleware or for a skipped path (docs/store.md's
// handler calls its methods there): readers return zero values, the others
// delta.ErrNoSession, as delta.Request's (they dereferenced the nil before and panicked).
func TestNilRequest(t *testing.T) {
	rq := redisstore.FromContext(httptest.NewRequest(http.MethodGet, "/", nil).Context())
	if rq != nil {
		t.Fatalf("FromContext outside the middleware: %v", rq)
	}
	if s := rq.Session(); s != nil {
		t.Errorf("Session: %v", s)
	}
	if id, rid := rq.ID(), rq.RequestedID(); id != "" || rid != "" {
		t.Errorf("ID %q, RequestedID %q, want empty", id, rid)
	}
	if v, ok := rq.Get("x"); v != nil || ok {
		t.Errorf("Get: %v %v", v, ok)
	}
	if s, err := rq.GetOrCreate(); s != nil || !errors.Is(err, delta.ErrNoSession) {
		t.Errorf("GetOrCreate: %v %v, want delta.ErrNoSession", s, err)
	}
	for name, err := range map[string]error{"Set": rq.Set("x", 1), "Remove": rq.Remove("x"), "Invalidate": rq.Invalidate()} {
		if !errors.Is(err, delta.ErrNoSession) {
			t.Errorf("%s: %v, want delta.ErrNoSession", name, err)
		}
	}
	if id, err := rq.ChangeID(); id != "" || !errors.Is(err, delta.ErrNoSession) {
		t.Errorf("ChangeID: %q %v, want delta.ErrNoSession", id, err)
	}
	var s *redisstore.Session // as delta's: a change of no session is ErrNoSession
	if err := s.MarkDirty("x"); !errors.Is(err, delta.ErrNoSession) {
		t.Errorf("(*Session)(nil).MarkDirty: %v, want delta.ErrNoSession", err)
	}
}
