package backup_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gotribes/tribes/session/backup"
	"github.com/gotribes/tribes/session/delta"
)

// FromContext returns nil outside Manager.Wrap (a handler under test without it): its
// methods return delta.ErrNoSession (OriginalID "") instead of dereferencing the nil.
func TestNilRequest(t *testing.T) {
	q := backup.FromContext(httptest.NewRequest(http.MethodGet, "/", nil).Context())
	if q != nil {
		t.Fatalf("FromContext outside Wrap: %v", q)
	}
	if !q.CommitResponse(httptest.NewRecorder()) {
		t.Error("CommitResponse of no request refused the response")
	}
	if s, err := q.Session(); s != nil || !errors.Is(err, delta.ErrNoSession) {
		t.Errorf("Session: %v %v, want delta.ErrNoSession", s, err)
	}
	if s, err := q.Create(); s != nil || !errors.Is(err, delta.ErrNoSession) {
		t.Errorf("Create: %v %v, want delta.ErrNoSession", s, err)
	}
	if err := q.Invalidate(); !errors.Is(err, delta.ErrNoSession) {
		t.Errorf("Invalidate: %v, want delta.ErrNoSession", err)
	}
	if id := q.OriginalID(); id != "" {
		t.Errorf("OriginalID: %q", id)
	}
}
