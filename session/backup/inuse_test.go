package backup_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/session/backup"
)

// TestSweepSparesSessionInUse: the sweep must not expire a session a request is using.
// A request on the primary finds its session just before the session's max inactive
// interval (1 s) runs out and works on it past that (here until the sweep has expired
// a session created after it). Tomcat measures idleness from the start of the current
// request (thisAccessedTime); the manager skips a session a request holds. The request
// then answers 200 with the session's counter at 2, and the next one reads it. Before,
// the sweep removed the session from every node under the running request, which then
// answered 503 (or, before TestTakenOverDuringRequest's fix, 200 for a change no node
// kept), and the client's next request got a new session.
func TestSweepSparesSessionInUse(t *testing.T) {
	ms := startManagers(t, 2, backup.Config{MaxInactive: time.Second, ExpireInterval: 20 * time.Millisecond,
		DisableJvmRouteBinder: true})
	_, c := request(t, ms[0], "/", "")
	id := c.Value
	found, release := make(chan struct{}), make(chan struct{})
	h := ms[0].Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := backup.FromContext(r.Context()).Session()
		close(found)
		if err != nil || s == nil {
			http.Error(w, fmt.Sprint("no session: ", err), http.StatusInternalServerError)
			return
		}
		<-release // the handler's work
		n, _, _ := s.Get("counter")
		c, _ := n.(int)
		if err := s.Set("counter", c+1); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, s.ID(), c+1)
	}))
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.AddCookie(&http.Cookie{Name: backup.CookieName, Value: id})
	w := httptest.NewRecorder()
	served := make(chan struct{})
	go func() {
		defer close(served)
		h.ServeHTTP(w, r)
	}()
	<-found
	// A session created after the request's was last used: once a sweep expired it,
	// a sweep ran after the request's session was idle for its interval too.
	later, err := ms[0].Create(context.Background())
	if err != nil {
		close(release)
		<-served
		t.Fatal(err)
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "the sweep expires a session created later", func() bool {
		return !slices.Contains(ms[0].Map().Keys(), any(later.ID()))
	})
	close(release)
	<-served
	if want := id + " 2\n"; w.Code != http.StatusOK || w.Body.String() != want {
		t.Fatalf("the request that held its session across the sweep: %d %q, want 200 %q", w.Code, w.Body, want)
	}
	if body, _ := request(t, ms[0], "/", id); body != id+" 3\n" {
		t.Fatalf("the next request: %q, want %s with counter 3", body, id)
	}
}
