package backup_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
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
	ctx := context.Background()
	var mu sync.Mutex
	var told []string
	ms, nodes := startManagerNodes(t, 3, backup.Config{ExpireInterval: time.Hour, DisableJvmRouteBinder: true,
		NamedListener: func(name string) backup.SessionListener {
			return backup.SessionListenerFuncs{Destroyed: func(s *backup.Session, expired bool) {
				mu.Lock()
				defer mu.Unlock()
				told = append(told, fmt.Sprintf("%s %s expired=%v", name, s.ID(), expired))
			}}
		}})
	s, err := ms[1].Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	id := s.ID()
	if err := s.AttachListener("sso"); err != nil {
		t.Fatal(err)
	}
	s.SetMaxInactive(time.Second)
	if err := ms[1].Replicate(ctx, id); err != nil {
		t.Fatal(err)
	}
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
	for i, m := range ms[1:] {
		if _, _, ok := m.Map().Peek(id); ok {
			t.Errorf("node %d still holds the expired session", i+1)
		}
	}
	mu.Lock()
	got := slices.Clone(told)
	mu.Unlock()
	if want := []string{"sso " + id + " expired=true"}; !slices.Equal(got, want) {
		t.Errorf("listeners told %q, want %q", got, want)
	}
}
