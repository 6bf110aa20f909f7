package redisstore_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gotribes/tribes/session/redisstore"
)

// TestMiddlewarePanicAfterResponseStartedKeepsItsSave: docs/store.md says of a handler
// that panics after its response started that only what was saved when the response
// started is kept. The handler sets count to 50, starts its response (the session is
// saved), sets count to 60 and panics: the next request finds 50.
func TestMiddlewarePanicAfterResponseStartedKeepsItsSave(t *testing.T) {
	r := startRedis(t)
	st := newStore(t, r, redisstore.Config{})
	mw, err := redisstore.NewMiddleware(st, redisstore.HTTPConfig{})
	if err != nil {
		t.Fatal(err)
	}
	counter := counterHandler("a")
	srv := httptest.NewServer(mw.Wrap(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path != "/panic" {
			counter.ServeHTTP(w, req)
			return
		}
		rq := redisstore.FromContext(req.Context())
		if err := rq.Set("count", 50); err != nil {
			t.Errorf("Set before the response: %v", err)
		}
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush() // the response starts: the session is saved
		if err := rq.Set("count", 60); err != nil {
			t.Errorf("Set after the response started: %v", err)
		}
		panic(http.ErrAbortHandler) // net/http drops the connection without logging
	})))
	defer srv.Close()
	c := &http.Client{Timeout: 20 * time.Second}
	_, _, _, id := get(t, c, srv.URL, "")
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/panic", nil)
	req.AddCookie(&http.Cookie{Name: "JSESSIONID", Value: id})
	if resp, err := c.Do(req); err == nil {
		_, _ = io.Copy(io.Discard, resp.Body) // ends with the aborted connection
		resp.Body.Close()
	}
	if _, body, _, _ := get(t, c, srv.URL, id); body != "count=51" {
		t.Fatalf("after the panic: %q, want count=51 (50 saved as the response started, the later 60 not)", body)
	}
}
