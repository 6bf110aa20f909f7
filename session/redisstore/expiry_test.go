package redisstore_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/session/redisstore"
)

// A session's idle time counts from the end of its last request, as Tomcat's
// (StandardSession.endAccess sets thisAccessedTime when the request ends): a request
// whose response streams for longer than a second after it started (and so after the
// TTL was renewed) renews the TTL again when the handler returns, whether the session
// was only read or saved when the response started. Without that, a download as long as
// the interval left the session expired as soon as it finished.
func TestLongResponseRenewsTTLAtTheEnd(t *testing.T) {
	r := startRedis(t)
	const interval = 3 * time.Second
	st := newStore(t, r, redisstore.Config{MaxInactiveInterval: interval})
	mw, err := redisstore.NewMiddleware(st, redisstore.HTTPConfig{})
	if err != nil {
		t.Fatal(err)
	}
	started, release := make(chan struct{}, 1), make(chan struct{}, 1)
	srv := httptest.NewServer(mw.Wrap(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		rq := redisstore.FromContext(req.Context())
		switch req.URL.Path {
		case "/new":
			_ = rq.Set("n", 0)
		case "/write":
			_ = rq.Set("n", 1) // saved when the response starts
		}
		fmt.Fprint(w, "streaming ")
		w.(http.Flusher).Flush() // the response starts: saved or TTL renewed
		if req.URL.Path != "/new" {
			started <- struct{}{}
			<-release
		}
		fmt.Fprint(w, "done")
	})))
	defer srv.Close()
	c := &http.Client{Timeout: 30 * time.Second}
	_, _, _, id := get(t, c, srv.URL+"/new", "")
	if id == "" {
		t.Fatal("no session cookie")
	}
	rc := r.client()
	key := st.Key(id)
	for _, path := range []string{"/read", "/write"} {
		answered := make(chan error, 1)
		go func() {
			req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
			req.AddCookie(&http.Cookie{Name: "JSESSIONID", Value: id})
			resp, err := c.Do(req)
			if err == nil {
				_, err = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			answered <- err
		}()
		select {
		case <-started:
		case <-time.After(20 * time.Second):
			t.Fatalf("%s: the handler did not start", path)
		}
		// The response has started; let more than a second of it pass.
		var before time.Duration
		testutil.Eventually(t, testutil.WaitLimit, func() error {
			if before = rc.PTTL(context.Background(), key).Val(); before > interval-1500*time.Millisecond {
				return fmt.Errorf("TTL still %v", before)
			}
			return nil
		})
		release <- struct{}{}
		if err := <-answered; err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		// Renewed as the handler returned: more left than just before (at most 1.5 s).
		if ttl := rc.PTTL(context.Background(), key).Val(); ttl <= before {
			t.Errorf("%s: TTL %v after a long response ended, %v before it did: not renewed at the end", path, ttl, before)
		}
	}
}
