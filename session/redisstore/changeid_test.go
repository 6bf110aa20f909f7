package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/gotribes/tribes/session/redisstore"
)

// Once the response has started, the session's id can no longer change, whichever
// handle the handler calls ChangeID on: the cookie that names the new id could not
// reach the client. Session.ChangeID after the response started used to succeed and the
// save at the handler's return moved the key to an id the client never learnt: the
// client's cookie named a deleted key and the session (a login) was lost. Now it is
// ErrResponseCommitted, as Request.ChangeID's, and the session stays under its id.
func TestChangeIDAfterResponseStartedIsRefused(t *testing.T) {
	r := startRedis(t)
	ctx := context.Background()
	changeErr := make(chan error, 2)
	srv, st := node(t, r, "a", func(string) http.Handler {
		mux := http.NewServeMux()
		mux.Handle("/count", counterHandler("a"))
		mux.HandleFunc("/late", func(w http.ResponseWriter, req *http.Request) {
			rq := redisstore.FromContext(req.Context())
			s := rq.Session()
			fmt.Fprint(w, "started")
			w.(http.Flusher).Flush()
			_, err := s.ChangeID()
			changeErr <- err
			_, err = rq.ChangeID()
			changeErr <- err
		})
		return mux
	})
	c := &http.Client{Timeout: 10 * time.Second}
	_, _, _, id := get(t, c, srv.URL+"/count", "")
	if id == "" {
		t.Fatal("no session cookie")
	}
	status, _, _, set := get(t, c, srv.URL+"/late", id)
	if status != 200 || set != "" {
		t.Fatalf("late ChangeID: %d, cookie %q (none can be sent)", status, set)
	}
	for _, what := range []string{"Session.ChangeID", "Request.ChangeID"} {
		if err := <-changeErr; !errors.Is(err, redisstore.ErrResponseCommitted) {
			t.Errorf("%s after the response started: %v, want ErrResponseCommitted", what, err)
		}
	}
	if _, err := st.Load(ctx, id); err != nil {
		t.Fatalf("the session under the client's cookie: %v", err)
	}
	if _, body, _, _ := get(t, c, srv.URL+"/count", id); body != "count=2" {
		t.Errorf("the client's next request: %q, want count=2 (the session kept)", body)
	}
}

// Invalidation wins over a concurrent login, as over any concurrent save: a logout
// that loaded the session under its old id before another request of the same client
// changed the id (login) invalidates the session under its new id too. Its DEL of the
// old key used to find nothing (the login had moved the session away), the logout
// answered 200 and cleared the cookie, and the session stayed logged in under the new
// id, which the login's response had given the client.
func TestLogoutRacingLoginInvalidatesTheRenamedSession(t *testing.T) {
	r := startRedis(t)
	ctx := context.Background()
	loaded, release := make(chan struct{}, 1), make(chan struct{})
	logoutErr := make(chan error, 1)
	srv, st := node(t, r, "a", func(string) http.Handler {
		mux := http.NewServeMux()
		mux.Handle("/count", counterHandler("a"))
		mux.HandleFunc("/login", func(w http.ResponseWriter, req *http.Request) {
			if _, err := redisstore.FromContext(req.Context()).ChangeID(); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
			}
		})
		mux.HandleFunc("/logout", func(w http.ResponseWriter, req *http.Request) {
			loaded <- struct{}{}
			<-release
			err := redisstore.FromContext(req.Context()).Invalidate()
			logoutErr <- err
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
			}
		})
		return mux
	})
	c := &http.Client{Timeout: 10 * time.Second}
	_, _, _, old := get(t, c, srv.URL+"/count", "")
	if old == "" {
		t.Fatal("no session cookie")
	}
	logoutStatus := make(chan int, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/logout", nil)
		req.AddCookie(&http.Cookie{Name: "JSESSIONID", Value: old})
		resp, err := c.Do(req)
		if err != nil {
			logoutStatus <- 0
			return
		}
		resp.Body.Close()
		logoutStatus <- resp.StatusCode
	}()
	select { // the logout has loaded the session under the old id
	case <-loaded:
	case <-time.After(20 * time.Second):
		t.Fatal("the logout did not reach its handler")
	}
	status, _, _, renamed := get(t, c, srv.URL+"/login", old)
	if status != http.StatusOK || renamed == "" || renamed == old {
		t.Fatalf("login: %d, cookie %q", status, renamed)
	}
	// A forward from the old id is kept for 5 minutes; the old id loads as no session.
	if ttl := r.client().PTTL(ctx, st.MovedKeyForTest(old)).Val(); ttl <= 4*time.Minute || ttl > 5*time.Minute {
		t.Errorf("TTL of the forward from the old id after the login: %v, want 5 min", ttl)
	}
	if _, err := st.Load(ctx, old); !errors.Is(err, redisstore.ErrNotFound) {
		t.Errorf("the old id after the login: %v, want ErrNotFound", err)
	}
	close(release)
	if err := <-logoutErr; err != nil {
		t.Fatalf("Invalidate: %v", err)
	}
	if s := <-logoutStatus; s != http.StatusOK {
		t.Fatalf("logout answered %d", s)
	}
	if _, err := st.Load(ctx, renamed); !errors.Is(err, redisstore.ErrNotFound) {
		t.Errorf("the session under its new id after the logout: %v, want ErrNotFound", err)
	}
	if _, body, _, _ := get(t, c, srv.URL+"/count", renamed); body != "count=1" {
		t.Errorf("a request with the login's cookie after the logout: %q, want count=1 (a new session)", body)
	}
	if _, err := st.Load(ctx, old); !errors.Is(err, redisstore.ErrNotFound) {
		t.Errorf("the old id: %v, want ErrNotFound", err)
	}
}
