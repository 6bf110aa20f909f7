package backup_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"

	"github.com/gotribes/tribes/session/backup"
)

// TestInvalidateAfterTakeoverTellsListeners: a request that invalidates its session (a
// logout page) tells the session's listeners of its end even when another node took the
// session over while the request ran (a parallel request there), leaving this node only
// a proxy: the session is removed from every node all the same, and the user's single
// sign-on must end with it, as Tomcat's invalidate tells the listeners of the session
// the request holds. (Found when the listeners were told only of a session the local
// map's entry still held: the logout left the user signed on.)
func TestInvalidateAfterTakeoverTellsListeners(t *testing.T) {
	ctx := context.Background()
	var mu sync.Mutex
	var told []string
	ms := startManagers(t, 3, backup.Config{NamedListener: func(name string) backup.SessionListener {
		return backup.SessionListenerFuncs{Destroyed: func(s *backup.Session, expired bool) {
			mu.Lock()
			defer mu.Unlock()
			told = append(told, name+" "+s.ID())
		}}
	}})
	id := createWithSSO(t, ms[0], 0).ID()
	// Node 1 picks its backups in turn: this session's is node 0, the next one node 2.
	if _, err := ms[1].Create(ctx); err != nil {
		t.Fatal(err)
	}
	logout := ms[0].Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := backup.FromContext(r.Context())
		if got, err := q.Session(); err != nil || got == nil {
			t.Errorf("the request's session: %v, %v", got, err)
			return
		}
		// A parallel request on node 1 takes the session over (node 2 its new backup): node
		// 0 keeps a proxy.
		if other, err := ms[1].Find(ctx, id); err != nil || other == nil {
			t.Errorf("node 1's find: %v, %v", other, err)
			return
		}
		if v, primary, _ := ms[0].Map().Peek(id); primary || v != nil {
			t.Errorf("node 0 holds %v (primary %v) after node 1's find, want a proxy", v, primary)
		}
		if err := q.Invalidate(); err != nil {
			t.Error(err)
		}
	}))
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.AddCookie(&http.Cookie{Name: backup.CookieName, Value: id})
	logout.ServeHTTP(httptest.NewRecorder(), r)
	for i, m := range ms {
		if _, _, ok := m.Map().Peek(id); ok {
			t.Errorf("node %d still holds the invalidated session", i)
		}
	}
	mu.Lock()
	got := slices.Clone(told)
	mu.Unlock()
	if want := []string{"sso " + id}; !slices.Equal(got, want) {
		t.Errorf("listeners told %q, want %q", got, want)
	}
}
