package backup_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gotribes/tribes/session/backup"
)

// TestTakenOverDuringRequest: two requests of one session on two nodes at once. While
// a request on the primary n0 runs (it has set "x"), a request on the backup n1 takes
// the session over (n1 becomes its primary and n0 holds its backup, in n1's copy). The
// request on n0 then has nothing it may send: its change is on no other node, and n0's
// entry no longer holds the session the handler changed. It must not answer 200
// ("acknowledged") for a change no node keeps: it answers 503, as for a failed
// replication. Before, replmap.Map.Replicate did nothing on a node that is not the
// primary, returned nil, and the middleware answered 200.
func TestTakenOverDuringRequest(t *testing.T) {
	ms := startManagers(t, 2, backup.Config{DisableJvmRouteBinder: true})
	_, c := request(t, ms[0], "/", "")
	id := c.Value
	changed, release := make(chan struct{}), make(chan struct{})
	h := ms[0].Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := backup.FromContext(r.Context()).Session()
		if err != nil || s == nil {
			http.Error(w, "no session", http.StatusInternalServerError)
			close(changed)
			return
		}
		_ = s.Set("x", "from n0")
		close(changed)
		<-release
		_, _ = w.Write([]byte("ok\n"))
	}))
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.AddCookie(&http.Cookie{Name: backup.CookieName, Value: id})
	w := httptest.NewRecorder()
	served := make(chan struct{})
	go func() {
		defer close(served)
		h.ServeHTTP(w, r)
	}()
	<-changed
	s1, err := ms[1].Find(context.Background(), id) // the other request: n1 takes the session over
	close(release)
	<-served
	if err != nil || s1 == nil {
		t.Fatalf("n1's request: %v, %v", s1, err)
	}
	if _, primary, _ := ms[1].Map().Peek(id); !primary {
		t.Fatal("n1 did not become the primary")
	}
	_, onN1, _ := s1.Get("x")
	if w.Code == http.StatusOK && !onN1 {
		t.Errorf("n0's request answered 200 for a change no node keeps (n1, the primary, has no x)")
	}
	if w.Code != http.StatusOK && w.Code != http.StatusServiceUnavailable {
		t.Errorf("n0's request: %d %q, want 503", w.Code, w.Body)
	}
}
