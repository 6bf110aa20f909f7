package backup_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gotribes/tribes/session/backup"
)

// TestSweepCheckAndRemoveAtomic: the sweep's check that a session expired and its
// removal are one step as far as requests are concerned. A request that takes the
// session between the two (here: the hook between them runs a request whose lookup, at
// the real time, finds the session not yet expired) either holds it, and the sweep spares
// it, or finds none, and the sweep removes it and tells its listeners. Before, the sweep
// removed the session the request held and told its listeners of its expiry (the user's
// single sign-on ended) while the request used it, which then answered 503.
func TestSweepCheckAndRemoveAtomic(t *testing.T) {
	var ends endLog
	ms := startManagers(t, 2, backup.Config{ExpireInterval: time.Hour, DisableJvmRouteBinder: true, NamedListener: ends.named})
	id := createWithSSO(t, ms[0], time.Minute).ID()

	found, release, served := make(chan bool, 1), make(chan struct{}), make(chan struct{})
	w := httptest.NewRecorder()
	h := ms[0].Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := backup.FromContext(r.Context()).Session()
		found <- s != nil
		if err != nil || s == nil {
			fmt.Fprintln(w, "none", err)
			return
		}
		<-release
		if err := s.Set("counter", 1); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, s.ID(), 1)
	}))
	var held bool
	restore := backup.SetExpireHook(func(key any) {
		if key != any(id) {
			return
		}
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.AddCookie(&http.Cookie{Name: backup.CookieName, Value: id})
		go func() {
			defer close(served)
			h.ServeHTTP(w, r)
		}()
		held = <-found
	})
	defer restore()
	// The sweep at a time when the session expired; the request's lookup runs at the real
	// time, before its expiry.
	backup.Expire(ms[0], time.Now().Add(2*time.Minute))
	close(release)
	<-served

	if held {
		if want := id + " 1\n"; w.Code != http.StatusOK || w.Body.String() != want {
			t.Errorf("the request that held the session across the sweep: %d %q, want 200 %q", w.Code, w.Body, want)
		}
		if got := ends.got(); len(got) != 0 {
			t.Errorf("listeners told %q of the end of a session a request held", got)
		}
		for i, m := range ms {
			if _, _, ok := m.Map().Peek(id); !ok {
				t.Errorf("node %d lost the session a request held", i)
			}
		}
		return
	}
	// The request found no session.
	ends.checkToldExpired(t, id)
	checkNoneHolds(t, ms, 0, id)
}
