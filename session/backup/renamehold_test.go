package backup_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/session/backup"
)

// TestSessionHeldDuringBinderRename: the request whose session the jvmRoute binder
// renames holds the session from the moment it is found, so that it does not expire
// under the request while the rename and its listeners run (a single sign-on listener
// replicates its entry): the session's interval ran out during the rename here, and
// another lookup of it meanwhile (a parallel request, or the sweep) finds it in use, as
// Tomcat counts a session's idleness from the start of the request using it. (Found
// when the session was held only after the rename: the lookup removed it as expired,
// and the request's response was a 503, its changes replicated nowhere.)
func TestSessionHeldDuringBinderRename(t *testing.T) {
	ctx := context.Background()
	var ms []*backup.Manager
	var lookedUp atomic.Pointer[backup.Session]
	var renamed atomic.Pointer[string]
	ms = startManagers(t, 2, backup.Config{ExpireInterval: time.Hour,
		NamedListener: func(name string) backup.SessionListener {
			return backup.SessionListenerFuncs{IDChanged: func(s *backup.Session, oldID string) {
				// A slow listener: the session's interval runs out meanwhile.
				testutil.EventuallyTrue(t, testutil.WaitLimit, "the session's interval ran out",
					func() bool { return s.Expired(time.Now()) })
				found, err := ms[1].Find(ctx, s.ID())
				if err != nil {
					t.Errorf("the lookup during the rename: %v", err)
				}
				lookedUp.Store(found)
				id := s.ID()
				renamed.Store(&id)
			}}
		}})
	s := createWithSSO(t, ms[0], time.Second)
	page := ms[1].Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, err := backup.FromContext(r.Context()).Session()
		if err != nil || got == nil {
			t.Errorf("the request's session: %v, %v", got, err)
			return
		}
		if err := got.Set("k", "v"); err != nil {
			t.Error(err)
		}
	}))
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.AddCookie(&http.Cookie{Name: backup.CookieName, Value: s.ID()})
	w := httptest.NewRecorder()
	page.ServeHTTP(w, r)
	newID := renamed.Load()
	if newID == nil {
		t.Fatal("the binder renamed nothing: the listener was not told")
	}
	if lookedUp.Load() == nil {
		t.Error("the lookup during the rename found the request's session expired and removed it")
	}
	if w.Code != http.StatusOK {
		t.Errorf("response %d, want 200", w.Code)
	}
	v, primary, ok := ms[1].Map().Peek(*newID)
	if !ok || !primary {
		t.Fatalf("node 1 holds %v (primary %v, ok %v) under %s after the request, want its session", v, primary, ok, *newID)
	}
	if got, _, err := v.(*backup.Session).Get("k"); err != nil || got != "v" {
		t.Errorf("the session's k = %v (%v), want v", got, err)
	}
}
