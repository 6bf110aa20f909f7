package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/session/redisstore"
)

// node is one HTTP server of a test with its own store (its own Redis connection pool).
func node(t *testing.T, r *redisServer, name string, h func(name string) http.Handler) (*httptest.Server, *redisstore.Store) {
	t.Helper()
	st := newStore(t, r, redisstore.Config{})
	mw, err := redisstore.NewMiddleware(st, redisstore.HTTPConfig{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(mw.Wrap(h(name)))
	t.Cleanup(srv.Close)
	return srv, st
}

// A session created on one node is continued on the others: each request alternates
// nodes and the counter goes up by one each time; the cookie is set once.
func TestMiddlewareSharesSessionsAcrossNodes(t *testing.T) {
	r := startRedis(t)
	a, _ := node(t, r, "a", counterHandler)
	b, st := node(t, r, "b", counterHandler)
	c := &http.Client{Timeout: 10 * time.Second}
	status, body, _, cookie := get(t, c, a.URL, "")
	if status != 200 || body != "count=1" || cookie == "" {
		t.Fatalf("first request: %d %q cookie %q", status, body, cookie)
	}
	for i := 2; i <= 6; i++ {
		url := []string{a.URL, b.URL}[i%2]
		status, body, _, set := get(t, c, url, cookie)
		if status != 200 || body != fmt.Sprintf("count=%d", i) || set != "" {
			t.Fatalf("request %d: %d %q, Set-Cookie %q", i, status, body, set)
		}
	}
	s, err := st.Load(context.Background(), cookie)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := redisstore.Attr[int](s, "count"); n != 6 || s.Version() != 6 {
		t.Fatalf("stored count %d version %d", n, s.Version())
	}
}

// A request that only reads the session writes nothing (the version stays) but renews
// the TTL; logout (Invalidate) removes the key and clears the cookie; login (ChangeID)
// moves the session to a new id and cookie.
func TestMiddlewareReadInvalidateChangeID(t *testing.T) {
	r := startRedis(t)
	ctx := context.Background()
	h := func(string) http.Handler {
		mux := http.NewServeMux()
		mux.Handle("/count", counterHandler("a"))
		mux.HandleFunc("/read", func(w http.ResponseWriter, r *http.Request) {
			n, _ := redisstore.FromContext(r.Context()).Get("count")
			fmt.Fprintf(w, "count=%v", n)
		})
		mux.HandleFunc("/login", func(w http.ResponseWriter, r *http.Request) {
			if _, err := redisstore.FromContext(r.Context()).ChangeID(); err != nil {
				http.Error(w, err.Error(), 500)
			}
		})
		mux.HandleFunc("/logout", func(w http.ResponseWriter, r *http.Request) {
			if err := redisstore.FromContext(r.Context()).Invalidate(); err != nil {
				http.Error(w, err.Error(), 500)
			}
		})
		return mux
	}
	srv, st := node(t, r, "a", h)
	rc := r.client()
	c := &http.Client{Timeout: 10 * time.Second}
	_, _, _, id := get(t, c, srv.URL+"/count", "")
	rc.PExpire(ctx, st.Key(id), 10*time.Second)
	if status, body, _, _ := get(t, c, srv.URL+"/read", id); status != 200 || body != "count=1" {
		t.Fatalf("read: %d %q", status, body)
	}
	if s, err := st.Load(ctx, id); err != nil || s.Version() != 1 {
		t.Fatalf("after a read-only request: version %d, %v (want 1: nothing written)", s.Version(), err)
	}
	if ttl := rc.PTTL(ctx, st.Key(id)).Val(); ttl < 29*time.Minute {
		t.Errorf("TTL after a read-only request %v, want renewed to 30 min", ttl)
	}

	status, _, _, newID := get(t, c, srv.URL+"/login", id)
	if status != 200 || newID == "" || newID == id {
		t.Fatalf("login: %d, new cookie %q (old %q)", status, newID, id)
	}
	if _, err := st.Load(ctx, id); !errors.Is(err, redisstore.ErrNotFound) {
		t.Errorf("old id after login: %v", err)
	}
	if _, body, _, _ := get(t, c, srv.URL+"/count", newID); body != "count=2" {
		t.Errorf("after login: %q", body)
	}

	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/logout", nil)
	req.AddCookie(&http.Cookie{Name: "JSESSIONID", Value: newID})
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if cs := resp.Cookies(); resp.StatusCode != 200 || len(cs) != 1 || cs[0].MaxAge >= 0 {
		t.Fatalf("logout: %d, cookies %v (want one deleting JSESSIONID)", resp.StatusCode, cs)
	}
	if _, err := st.Load(ctx, newID); !errors.Is(err, redisstore.ErrNotFound) {
		t.Errorf("after logout: %v", err)
	}
	if _, body, _, set := get(t, c, srv.URL+"/count", newID); body != "count=1" || set == newID || set == "" {
		t.Errorf("after logout the old cookie gave %q, cookie %q", body, set)
	}
}

// A cookie naming a corrupt stored value is treated as no session: a new one starts.
func TestMiddlewareCorruptSessionStartsNew(t *testing.T) {
	r := startRedis(t)
	srv, st := node(t, r, "a", counterHandler)
	r.client().Set(context.Background(), st.Key("BAD"), "not a session", time.Minute)
	status, body, _, set := get(t, &http.Client{Timeout: 10 * time.Second}, srv.URL, "BAD")
	if status != 200 || body != "count=1" || set == "" || set == "BAD" {
		t.Fatalf("corrupt session: %d %q cookie %q", status, body, set)
	}
}

// With Redis down, no request that needs the session succeeds: one with a cookie gets
// 503 with Retry-After before its handler runs, one that creates a session gets 503
// instead of the handler's answer (whose write fails with ErrNotSaved). Once Redis is
// back (on the same port) requests succeed again.
func TestMiddlewareRedisDown(t *testing.T) {
	r := startRedis(t)
	var ran atomic.Int32
	var writeErr atomic.Value
	h := func(string) http.Handler {
		inner := counterHandler("a")
		return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			ran.Add(1)
			inner.ServeHTTP(w, req)
			if _, err := w.Write([]byte("more")); err != nil {
				writeErr.Store(err)
			}
		})
	}
	srv, _ := node(t, r, "a", h)
	c := &http.Client{Timeout: 20 * time.Second}
	_, _, _, id := get(t, c, srv.URL, "")
	r.stop()
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	req.AddCookie(&http.Cookie{Name: "JSESSIONID", Value: id})
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "1" {
		t.Fatalf("load with Redis down: %d Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if ran.Load() != 1 {
		t.Fatalf("the handler ran %d times, want once (not for the failed load)", ran.Load())
	}
	status, body, _, set := get(t, c, srv.URL, "")
	if status != http.StatusServiceUnavailable || set != "" || body == "count=1" {
		t.Fatalf("new session with Redis down: %d %q cookie %q", status, body, set)
	}
	if err, _ := writeErr.Load().(error); !errors.Is(err, redisstore.ErrNotSaved) {
		t.Fatalf("handler's write after the failed save: %v", err)
	}
	r.start()
	testutil.Eventually(t, testutil.WaitLimit, func() error { // the pool drops its dead connections
		if status, body, _, set := get(t, c, srv.URL, ""); status != 200 || body != "count=1more" || set == "" {
			return fmt.Errorf("after Redis came back: %d %q cookie %q", status, body, set)
		}
		return nil
	})
}

// Two requests of one session run at once on two nodes, both having read count=1: the
// first to save wins (200, count=2), the other gets 409 Conflict and its change is not
// stored; retried, it counts on top of the winner (count=3). No increment is applied
// twice or lost silently.
func TestConcurrentRequestsOnTwoNodes(t *testing.T) {
	r := startRedis(t)
	loaded := make(chan struct{}, 2)
	release := make(chan struct{})
	gate := func(name string) http.Handler {
		inner := counterHandler(name)
		return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			if req.URL.Path == "/gated" {
				redisstore.FromContext(req.Context()).Get("count") // the session is loaded
				loaded <- struct{}{}
				<-release
			}
			inner.ServeHTTP(w, req)
		})
	}
	a, _ := node(t, r, "a", gate)
	b, st := node(t, r, "b", gate)
	c := &http.Client{Timeout: 20 * time.Second}
	_, _, _, id := get(t, c, a.URL, "")
	type result struct {
		status int
		body   string
	}
	results := make(chan result, 2)
	var wg sync.WaitGroup
	for _, url := range []string{a.URL, b.URL} {
		wg.Go(func() {
			status, body, _, _ := get(t, c, url+"/gated", id)
			results <- result{status, body}
		})
	}
	for range 2 {
		select {
		case <-loaded:
		case <-time.After(20 * time.Second):
			t.Fatal("the gated requests did not both load the session")
		}
	}
	close(release)
	wg.Wait()
	close(results)
	codes := map[int]string{}
	for res := range results {
		codes[res.status] = res.body
	}
	if codes[200] != "count=2" || len(codes) != 2 || codes[http.StatusConflict] == "" {
		t.Fatalf("concurrent requests answered %v, want one 200 count=2 and one 409", codes)
	}
	if _, body, _, _ := get(t, c, b.URL, id); body != "count=3" {
		t.Fatalf("retry of the loser: %q, want count=3", body)
	}
	s, err := st.Load(context.Background(), id)
	if err != nil || s.Version() != 3 {
		t.Fatalf("stored version %d, %v", s.Version(), err)
	}
}

// A Redis that accepts connections but does not answer (the process stopped with
// SIGSTOP) makes requests fail with 503 after Config.Timeout, not hang: a load, and an
// Invalidate (logout) whose DEL gets no answer (the client must not believe it logged
// out). Once Redis runs again requests succeed.
func TestMiddlewareRedisHangs(t *testing.T) {
	if !canStopProcesses {
		t.Skip("stops Redis with SIGSTOP, which only Unix systems have")
	}
	r := startRedis(t)
	st := newStore(t, r, redisstore.Config{Timeout: 300 * time.Millisecond})
	mw, err := redisstore.NewMiddleware(st, redisstore.HTTPConfig{})
	if err != nil {
		t.Fatal(err)
	}
	loaded, release := make(chan struct{}, 1), make(chan struct{})
	logoutErr := make(chan error, 1)
	counter := counterHandler("a")
	srv := httptest.NewServer(mw.Wrap(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path != "/logout" {
			counter.ServeHTTP(w, req)
			return
		}
		loaded <- struct{}{}
		<-release
		err := redisstore.FromContext(req.Context()).Invalidate()
		logoutErr <- err
		fmt.Fprint(w, "logged out")
	})))
	defer srv.Close()
	c := &http.Client{Timeout: 20 * time.Second}
	_, _, _, id := get(t, c, srv.URL, "")
	pause := func() {
		if err := stopProcess(r.cmd.Process); err != nil {
			t.Fatal(err)
		}
	}
	resume := func() { _ = continueProcess(r.cmd.Process) }
	defer resume()

	pause()
	if status, _, _, _ := get(t, c, srv.URL, id); status != http.StatusServiceUnavailable {
		t.Fatalf("request while Redis hangs: %d, want 503", status)
	}
	resume()
	testutil.Eventually(t, testutil.WaitLimit, func() error {
		if status, body, _, _ := get(t, c, srv.URL, id); status != 200 || body != "count=2" {
			return fmt.Errorf("after Redis resumed: %d %q", status, body)
		}
		return nil
	})

	type answer struct {
		status int
		body   string
	}
	answered := make(chan answer, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/logout", nil)
		req.AddCookie(&http.Cookie{Name: "JSESSIONID", Value: id})
		resp, err := c.Do(req)
		if err != nil {
			answered <- answer{body: err.Error()}
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		answered <- answer{resp.StatusCode, string(b)}
	}()
	select { // the session is loaded: now Redis stops answering
	case <-loaded:
	case <-time.After(20 * time.Second):
		t.Fatal("the logout request did not reach its handler")
	}
	pause()
	close(release)
	if err := <-logoutErr; !errors.Is(err, redisstore.ErrUnavailable) {
		t.Fatalf("Invalidate while Redis hangs: %v, want ErrUnavailable", err)
	}
	if a := <-answered; a.status != http.StatusServiceUnavailable || strings.Contains(a.body, "logged out") {
		t.Fatalf("logout while Redis hangs answered %d %q, want 503", a.status, a.body)
	}
	resume()
}

// Changes made after the response started are saved when the handler returns; a
// skipped path gets no session handling at all.
func TestMiddlewareLateChangesAndSkip(t *testing.T) {
	r := startRedis(t)
	st := newStore(t, r, redisstore.Config{})
	mw, err := redisstore.NewMiddleware(st, redisstore.HTTPConfig{SkipPath: regexp.MustCompile(`^/static/`)})
	if err != nil {
		t.Fatal(err)
	}
	lateErr := make(chan error, 1)
	srv := httptest.NewServer(mw.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rq := redisstore.FromContext(r.Context())
		if strings.HasPrefix(r.URL.Path, "/static/") {
			fmt.Fprintf(w, "skipped=%v", rq == nil)
			return
		}
		_ = rq.Set("early", 1)
		fmt.Fprint(w, "ok")
		w.(http.Flusher).Flush()
		lateErr <- rq.Set("late", 2)
	})))
	defer srv.Close()
	c := &http.Client{Timeout: 20 * time.Second}
	status, _, _, id := get(t, c, srv.URL+"/page", "")
	if status != 200 || id == "" {
		t.Fatalf("page: %d cookie %q", status, id)
	}
	if err := <-lateErr; err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, testutil.WaitLimit, func() error { // saved as the handler returned
		s, err := st.Load(context.Background(), id)
		if err != nil {
			return err
		}
		if v, _ := redisstore.Attr[int](s, "late"); v != 2 || s.Version() != 2 {
			return fmt.Errorf("late change not stored: late=%d version %d", v, s.Version())
		}
		return nil
	})
	if status, body, _, set := get(t, c, srv.URL+"/static/x", ""); status != 200 || body != "skipped=true" || set != "" {
		t.Fatalf("skipped path: %d %q cookie %q", status, body, set)
	}
}

// A handler that panics before its response started saves nothing.
func TestMiddlewarePanicSavesNothing(t *testing.T) {
	r := startRedis(t)
	st := newStore(t, r, redisstore.Config{})
	mw, err := redisstore.NewMiddleware(st, redisstore.HTTPConfig{})
	if err != nil {
		t.Fatal(err)
	}
	counter := counterHandler("a")
	srv := httptest.NewServer(mw.Wrap(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path == "/panic" {
			_ = redisstore.FromContext(req.Context()).Set("count", 100)
			panic(http.ErrAbortHandler) // net/http drops the connection without logging
		}
		counter.ServeHTTP(w, req)
	})))
	defer srv.Close()
	c := &http.Client{Timeout: 20 * time.Second}
	_, _, _, id := get(t, c, srv.URL, "")
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/panic", nil)
	req.AddCookie(&http.Cookie{Name: "JSESSIONID", Value: id})
	if resp, err := c.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("the panicking handler answered %d", resp.StatusCode)
	}
	if _, body, _, _ := get(t, c, srv.URL, id); body != "count=2" {
		t.Fatalf("after the panic: %q, want count=2 (the panicking request's Set not stored)", body)
	}
}
