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
