package redisstore_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/session/redisstore"
)

// A session that a request loaded just before its idle time ran out does not expire
// while the request runs: the middleware's load counts as an access, as the start of a
// request does in Tomcat. Its key used to keep the TTL it had, so Redis removed it under
// the running request: a request that changed it got 409 Conflict (its save found the
// session "removed meanwhile", its change lost) and one that only read it could not
// renew it (the client's next request found no session). Now the middleware's load
// extends a TTL shorter than a minute to a minute, and the save or renewal when the
// response starts sets the session's interval again.
func TestSessionLoadedBeforeItsExpiryOutlivesTheRequest(t *testing.T) {
	r := startRedis(t)
	st := newStore(t, r, redisstore.Config{MaxInactiveInterval: time.Hour})
	rc := r.client()
	ctx := context.Background()
	// The session's last second of idle time, given by Skip (which the middleware calls
	// before it loads the session) so that the load follows at once, and a clock key
	// that expires after the session would have.
	const left = time.Second
	clocks := make(chan string, 1)
	mw, err := redisstore.NewMiddleware(st, redisstore.HTTPConfig{Skip: func(req *http.Request) bool {
		if req.URL.Path == "/new" {
			return false
		}
		id, err := req.Cookie("JSESSIONID")
		if err != nil {
			t.Error(err)
			return false
		}
		if err := rc.PExpire(ctx, st.Key(id.Value), left).Err(); err != nil {
			t.Error(err)
		}
		if err := rc.Set(ctx, "clock:"+id.Value, 1, left).Err(); err != nil {
			t.Error(err)
		}
		clocks <- "clock:" + id.Value
		return false
	}})
	if err != nil {
		t.Fatal(err)
	}
	loaded, release := make(chan struct{}, 1), make(chan struct{}, 1)
	srv := httptest.NewServer(mw.Wrap(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		rq := redisstore.FromContext(req.Context())
		if req.URL.Path == "/new" {
			_ = rq.Set("n", 1)
			return
		}
		loaded <- struct{}{}
		<-release
		if req.URL.Path == "/write" {
			if err := rq.Set("n", 2); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
			}
		}
	})))
	defer srv.Close()
	c := &http.Client{Timeout: 30 * time.Second}
	for _, path := range []string{"/read", "/write"} {
		t.Run(path[1:], func(t *testing.T) {
			_, _, _, id := get(t, c, srv.URL+"/new", "")
			if id == "" {
				t.Fatal("no session cookie")
			}
			status := make(chan int, 1)
			go func() {
				req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
				req.AddCookie(&http.Cookie{Name: "JSESSIONID", Value: id})
				resp, err := c.Do(req)
				if err != nil {
					status <- 0
					return
				}
				resp.Body.Close()
				status <- resp.StatusCode
			}()
			clock := <-clocks
			<-loaded // the handler runs: the session was loaded
			// The request runs past the moment the session would have expired.
			testutil.Eventually(t, testutil.WaitLimit, func() error {
				if rc.Exists(ctx, clock).Val() != 0 {
					return errors.New("the session's idle time has not run out yet")
				}
				return nil
			})
			release <- struct{}{}
			if s := <-status; s != http.StatusOK {
				t.Fatalf("%s of a session loaded before its expiry answered %d, want 200", path, s)
			}
			got, err := st.Load(ctx, id)
			if err != nil {
				t.Fatalf("the session after the request: %v, want it kept", err)
			}
			want := map[string]int{"/read": 1, "/write": 2}[path]
			if n, _ := redisstore.Attr[int](got, "n"); n != want {
				t.Errorf("stored n = %d, want %d", n, want)
			}
			if ttl := rc.PTTL(ctx, st.Key(id)).Val(); ttl <= 59*time.Minute {
				t.Errorf("TTL after the request: %v, want the session's interval (1 h)", ttl)
			}
		})
	}
}
