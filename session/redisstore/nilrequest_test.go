package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gotribes/tribes/session/delta"
	"github.com/gotribes/tribes/session/redisstore"
)

// FromContext returns nil outside the middleware or for a skipped path (docs/store.md's
// handler calls its methods there): readers return zero values, the others
// delta.ErrNoSession, as delta.Request's (they dereferenced the nil before and panicked).
func TestNilRequest(t *testing.T) {
	rq := redisstore.FromContext(httptest.NewRequest(http.MethodGet, "/", nil).Context())
	if rq != nil {
		t.Fatalf("FromContext outside the middleware: %v", rq)
	}
	if s := rq.Session(); s != nil {
		t.Errorf("Session: %v", s)
	}
	if id, rid := rq.ID(), rq.RequestedID(); id != "" || rid != "" {
		t.Errorf("ID %q, RequestedID %q, want empty", id, rid)
	}
	if v, ok := rq.Get("x"); v != nil || ok {
		t.Errorf("Get: %v %v", v, ok)
	}
	if s, err := rq.GetOrCreate(); s != nil || !errors.Is(err, delta.ErrNoSession) {
		t.Errorf("GetOrCreate: %v %v, want delta.ErrNoSession", s, err)
	}
	for name, err := range map[string]error{"Set": rq.Set("x", 1), "Remove": rq.Remove("x"), "Invalidate": rq.Invalidate()} {
		if !errors.Is(err, delta.ErrNoSession) {
			t.Errorf("%s: %v, want delta.ErrNoSession", name, err)
		}
	}
	if id, err := rq.ChangeID(); id != "" || !errors.Is(err, delta.ErrNoSession) {
		t.Errorf("ChangeID: %q %v, want delta.ErrNoSession", id, err)
	}
	var s *redisstore.Session // as delta's: a change of no session is ErrNoSession
	if err := s.MarkDirty("x"); !errors.Is(err, delta.ErrNoSession) {
		t.Errorf("(*Session)(nil).MarkDirty: %v, want delta.ErrNoSession", err)
	}
}

// The Store's methods that take a session, given none (rq.Session() of a request
// without one), return delta.ErrNoSession; Set on a zero Session (not from a Store) is
// ErrInvalidSession, as its other changes; NewMiddleware of a nil Store is
// ErrInvalidConfig. Each of them panicked on a nil dereference.
func TestNilSessionAndStoreAreErrors(t *testing.T) {
	r := startRedis(t)
	st := newStore(t, r, redisstore.Config{})
	ctx := context.Background()
	var none *redisstore.Session
	for name, f := range map[string]func() error{
		"Save":       func() error { return st.Save(ctx, none) },
		"Touch":      func() error { return st.Touch(ctx, none) },
		"Invalidate": func() error { return st.Invalidate(ctx, none) },
	} {
		if err := catch(f); !errors.Is(err, delta.ErrNoSession) {
			t.Errorf("Store.%s of a nil session: %v, want delta.ErrNoSession", name, err)
		}
	}
	var zero redisstore.Session
	if err := catch(func() error { return zero.Set("x", 1) }); !errors.Is(err, redisstore.ErrInvalidSession) {
		t.Errorf("Set on a zero Session: %v, want ErrInvalidSession", err)
	}
	if err := catch(func() error { return st.Save(ctx, &zero) }); !errors.Is(err, redisstore.ErrInvalidSession) {
		t.Errorf("Save of a zero Session: %v, want ErrInvalidSession", err)
	}
	if err := catch(func() error {
		_, err := redisstore.NewMiddleware(nil, redisstore.HTTPConfig{})
		return err
	}); !errors.Is(err, redisstore.ErrInvalidConfig) {
		t.Errorf("NewMiddleware(nil): %v, want ErrInvalidConfig", err)
	}
}

// catch runs f and turns a panic into an error.
func catch(f func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	return f()
}
