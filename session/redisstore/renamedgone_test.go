package redisstore_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gotribes/tribes/session/redisstore"
)

// A session that another request renamed (ChangeID, a login in another tab) while this
// request had it loaded is no longer under the id this request loaded, but it exists:
// this request's save is a plain ErrConflict, which a retry (with the cookie of the new
// id, which the client's other tab received) applies. It was ErrSessionGone, whose 409
// told the client that the session no longer existed.
func TestSaveAfterConcurrentRenameIsNotSessionGone(t *testing.T) {
	r := startRedis(t)
	st := newStore(t, r, redisstore.Config{})
	ctx := context.Background()
	s := savedSession(t, st, "count", 1)
	old := s.ID()
	renaming, err := st.Load(ctx, old)
	if err != nil {
		t.Fatal(err)
	}
	loaded, err := st.Load(ctx, old)
	if err != nil {
		t.Fatal(err)
	}
	newID, err := renaming.ChangeID()
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Save(ctx, renaming); err != nil {
		t.Fatal(err)
	}
	if err := loaded.Set("count", 2); err != nil {
		t.Fatal(err)
	}
	err = st.Save(ctx, loaded)
	if !errors.Is(err, redisstore.ErrConflict) || errors.Is(err, redisstore.ErrSessionGone) {
		t.Fatalf("save after a concurrent rename: %v, want ErrConflict and not ErrSessionGone", err)
	}
	rec := httptest.NewRecorder()
	redisstore.DefaultOnError(rec, httptest.NewRequest(http.MethodGet, "/", nil), err)
	if rec.Code != http.StatusConflict || strings.Contains(rec.Body.String(), "no longer exists") {
		t.Fatalf("DefaultOnError: %d %q, want a 409 that does not say the session no longer exists", rec.Code, rec.Body.String())
	}
	// The renamed session is there, unchanged by the refused save.
	got, err := st.Load(ctx, newID)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := got.Get("count"); v != 1 {
		t.Fatalf("renamed session's count = %v, want 1", v)
	}

	// Once the renamed session is invalidated too (Delete follows the forward), a save
	// of the old id's copy finds no session anywhere: ErrSessionGone.
	if err := st.Invalidate(ctx, got); err != nil {
		t.Fatal(err)
	}
	loaded2, err := st.Load(ctx, newID)
	if err == nil {
		t.Fatalf("invalidated session %s still loads: %v", newID, loaded2)
	}
	err = st.Save(ctx, loaded)
	if !errors.Is(err, redisstore.ErrSessionGone) {
		t.Fatalf("save after the renamed session's invalidation: %v, want ErrSessionGone", err)
	}
}
