package redisstore_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/session/redisstore"
)

// A session that is no longer in Redis when its request saves it (Redis restarted
// without persistence mid-request, or another request invalidated it) is ErrSessionGone,
// still an ErrConflict: the change was not applied, and a retry finds no session. Its
// response used to say "session changed concurrently", as for a save that lost to
// another one, which a retry would apply; DefaultOnError now says the session no longer
// exists (409 still: the request conflicts with the session's state).
func TestSaveOfASessionLostByRedisIsSessionGone(t *testing.T) {
	r := startRedis(t)
	st := newStore(t, r, redisstore.Config{})
	ctx := context.Background()
	s := savedSession(t, st, "count", 1)
	loaded, err := st.Load(ctx, s.ID())
	if err != nil {
		t.Fatal(err)
	}
	if err := loaded.Set("count", 2); err != nil {
		t.Fatal(err)
	}
	// Another request's save first: a plain conflict, which a retry would apply.
	if err := s.Set("count", 3); err != nil {
		t.Fatal(err)
	}
	if err := st.Save(ctx, s); err != nil {
		t.Fatal(err)
	}
	err = st.Save(ctx, loaded)
	if !errors.Is(err, redisstore.ErrConflict) || errors.Is(err, redisstore.ErrSessionGone) {
		t.Fatalf("save after a competing save: %v, want ErrConflict and not ErrSessionGone", err)
	}

	loaded, err = st.Load(ctx, s.ID())
	if err != nil {
		t.Fatal(err)
	}
	if err := loaded.Set("count", 4); err != nil {
		t.Fatal(err)
	}
	r.stop()
	r.start() // without persistence: empty
	testutil.Eventually(t, testutil.WaitLimit, func() error { return st.Ping(ctx) })
	err = st.Save(ctx, loaded)
	if !errors.Is(err, redisstore.ErrSessionGone) || !errors.Is(err, redisstore.ErrConflict) {
		t.Fatalf("save of a session Redis lost: %v, want ErrSessionGone, an ErrConflict", err)
	}
	if _, err := st.Load(ctx, s.ID()); !errors.Is(err, redisstore.ErrNotFound) {
		t.Fatalf("the failed save brought the session back: %v", err)
	}
	rec := httptest.NewRecorder()
	redisstore.DefaultOnError(rec, httptest.NewRequest(http.MethodGet, "/", nil), err)
	if rec.Code != http.StatusConflict || !strings.Contains(rec.Body.String(), "no longer exists") {
		t.Fatalf("DefaultOnError: %d %q, want 409 saying the session no longer exists", rec.Code, rec.Body.String())
	}
}
