package backup_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/session/backup"
)

// TestFindExpiredWhoseRemovalMissesAMember: a request back with a session that expired,
// while a member the map lists cannot be reached (a dead node not dropped yet, the usual
// reason for a failover), finds no session, as for any expired one: the session expired
// here and is removed from this node and the members that answer, its listeners are told
// of its expiry, and the request goes on without it (it may make a new one). Before, Find
// returned the removal's error for the dead member: the request's Session and Create
// failed (here a 500), for a session that had simply expired.
func TestFindExpiredWhoseRemovalMissesAMember(t *testing.T) {
	var ends endLog
	ms, nodes := startManagerNodes(t, 3, backup.Config{ExpireInterval: time.Hour, DisableJvmRouteBinder: true, NamedListener: ends.named})
	s := createWithSSO(t, ms[1], time.Second)
	id := s.ID()
	testutil.EventuallyTrue(t, testutil.WaitLimit, "the session expired", func() bool { return s.Expired(time.Now()) })
	nodes[0].SetMaxMessageSize(1) // n0 died: every message to it fails, it is still listed

	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.AddCookie(&http.Cookie{Name: backup.CookieName, Value: id})
	w := httptest.NewRecorder()
	ms[1].Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := backup.FromContext(r.Context()).Session()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, "session", s != nil)
	})).ServeHTTP(w, r)
	if want := "session false\n"; w.Code != http.StatusOK || w.Body.String() != want {
		t.Errorf("request with the expired session: %d %q, want 200 %q", w.Code, w.Body, want)
	}
	checkNoneHolds(t, ms, 1, id)
	ends.checkToldExpired(t, id)
}
