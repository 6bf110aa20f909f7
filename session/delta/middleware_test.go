package delta_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/session/delta"
)

// counter increments the session attribute "count" and writes it.
var counter = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	dr := delta.FromContext(r.Context())
	n, _ := dr.Get("count")
	c, _ := n.(int)
	if err := dr.Set("count", c+1); err != nil {
		http.Error(w, err.Error(), 500)
		return
	}
	fmt.Fprint(w, c+1)
})

func wrap(t testing.TB, n *node, cfg delta.HTTPConfig, h http.Handler) http.Handler {
	t.Helper()
	mw, err := delta.NewMiddleware(n.m, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return mw.Wrap(h)
}

// get serves one GET of path with the given session cookie (if not empty).
func get(h http.Handler, path, cookie string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodGet, path, nil)
	if cookie != "" {
		r.AddCookie(&http.Cookie{Name: "JSESSIONID", Value: cookie})
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func sessionCookie(t testing.TB, w *httptest.ResponseRecorder, name string) *http.Cookie {
	t.Helper()
	for _, c := range w.Result().Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

var tomcatID = regexp.MustCompile(`^[0-9A-F]{32}\.a$`)

func TestMiddlewareCookie(t *testing.T) {
	_, a, _, _ := three(t, delta.Config{})
	h := wrap(t, a, delta.HTTPConfig{}, counter)
	w := get(h, "/", "")
	c := sessionCookie(t, w, "JSESSIONID")
	if c == nil || !tomcatID.MatchString(c.Value) || !c.HttpOnly || c.Secure || c.Path != "/" ||
		c.SameSite != http.SameSiteLaxMode || c.MaxAge != 0 {
		t.Fatalf("default cookie %+v (%q)", c, w.Header().Get("Set-Cookie"))
	}
	if w2 := get(h, "/", c.Value); w2.Header().Get("Set-Cookie") != "" || w2.Body.String() != "2" {
		t.Errorf("second request: Set-Cookie %q body %q", w2.Header().Get("Set-Cookie"), w2.Body.String())
	}
	// Secure follows TLS.
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.TLS = &tls.ConnectionState{}
	w = httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if c := sessionCookie(t, w, "JSESSIONID"); c == nil || !c.Secure {
		t.Errorf("cookie over TLS %+v", c)
	}

	h = wrap(t, a, delta.HTTPConfig{CookieName: "SID", CookiePath: "/app", CookieDomain: "example.com", CookieSecure: true,
		CookieSameSite: http.SameSiteStrictMode, DisableHTTPOnly: true, CookieMaxAge: 3600}, counter)
	w = get(h, "/app/x", "")
	c = sessionCookie(t, w, "SID")
	if c == nil || c.HttpOnly || !c.Secure || c.Path != "/app" || c.Domain != "example.com" ||
		c.SameSite != http.SameSiteStrictMode || c.MaxAge != 3600 {
		t.Errorf("configured cookie %+v", c)
	}
	if _, err := delta.NewMiddleware(a.m, delta.HTTPConfig{CookieName: "bad name"}); !errors.Is(err, delta.ErrInvalidConfig) {
		t.Errorf("bad cookie name: %v", err)
	}
}

func TestMiddlewareFailoverRenamesRoute(t *testing.T) {
	_, a, b, c := three(t, delta.Config{})
	var original atomic.Value
	h := func(n *node) http.Handler {
		return wrap(t, n, delta.HTTPConfig{}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			original.Store(delta.FromContext(r.Context()).OriginalID())
			counter(w, r)
		}))
	}
	ha, hb := h(a), h(b)
	w := get(ha, "/", "")
	idA := sessionCookie(t, w, "JSESSIONID").Value
	delta.DrainAsync(a.m) // asynchronous replication: the answer may come before the delta left

	// The load balancer fails over to B: the session is renamed to B's route everywhere.
	w = get(hb, "/", idA)
	ck := sessionCookie(t, w, "JSESSIONID")
	if w.Body.String() != "2" || ck == nil || ck.Value != strings.TrimSuffix(idA, ".a")+".b" {
		t.Fatalf("failover: body %q cookie %+v", w.Body.String(), ck)
	}
	if original.Load() != idA {
		t.Errorf("OriginalID %v", original.Load())
	}
	idB := ck.Value
	delta.DrainAsync(b.m)
	for name, n := range map[string]*node{"A": a, "B": b, "C": c} {
		if n.m.Find(idA) != nil || n.m.Find(idB) == nil {
			t.Errorf("%s: old id found %v, new id found %v", name, n.m.Find(idA) != nil, n.m.Find(idB) != nil)
		}
	}
	// A request still carrying the old id (sent before the new cookie arrived) finds the
	// renamed session.
	w = get(hb, "/", idA)
	if ck := sessionCookie(t, w, "JSESSIONID"); w.Body.String() != "3" || ck == nil || ck.Value != idB {
		t.Errorf("stale id on B: body %q cookie %+v", w.Body.String(), ck)
	}
	delta.DrainAsync(b.m)
	// And back to A.
	w = get(ha, "/", idB)
	if ck := sessionCookie(t, w, "JSESSIONID"); w.Body.String() != "4" || ck == nil || ck.Value != idA {
		t.Errorf("failback: body %q cookie %+v", w.Body.String(), ck)
	}
}

func TestMiddlewareChangeIDOnLogin(t *testing.T) {
	_, a, b, _ := three(t, delta.Config{})
	h := wrap(t, a, delta.HTTPConfig{}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		dr := delta.FromContext(r.Context())
		if r.URL.Path == "/login" {
			if _, err := dr.ChangeID(); err != nil {
				http.Error(w, err.Error(), 500)
				return
			}
			_ = dr.Session().SetPrincipal(&delta.Principal{Name: "alice"})
			_ = dr.Session().SetAuthType("FORM")
		}
		counter(w, r)
	}))
	before := sessionCookie(t, get(h, "/", ""), "JSESSIONID").Value
	w := get(h, "/login", before)
	after := sessionCookie(t, w, "JSESSIONID")
	if after == nil || after.Value == before || !tomcatID.MatchString(after.Value) {
		t.Fatalf("login cookie %+v (before %s)", after, before)
	}
	delta.DrainAsync(a.m)
	for name, n := range map[string]*node{"A": a, "B": b} {
		if n.m.Find(before) != nil {
			t.Errorf("%s still knows the pre-login id", name)
		}
		s := n.m.Find(after.Value)
		if s == nil || s.Principal() == nil || s.Principal().Name != "alice" {
			t.Errorf("%s: session after login %v", name, s)
		}
	}
	if w := get(h, "/", before); sessionCookie(t, w, "JSESSIONID").Value == before || w.Body.String() != "1" {
		t.Error("the pre-login id still works")
	}
}

func TestMiddlewareSkip(t *testing.T) {
	_, a, _, _ := three(t, delta.Config{})
	var saw atomic.Bool
	h := wrap(t, a, delta.HTTPConfig{SkipPath: regexp.MustCompile(`^/static/`),
		Skip: func(r *http.Request) bool { return r.URL.Path == "/health" }},
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			saw.Store(delta.FromContext(r.Context()) != nil)
		}))
	for _, p := range []string{"/static/app.js", "/health"} {
		w := get(h, p, "")
		if saw.Load() || w.Header().Get("Set-Cookie") != "" {
			t.Errorf("%s: handle %v, Set-Cookie %q", p, saw.Load(), w.Header().Get("Set-Cookie"))
		}
	}
	get(h, "/page", "")
	if !saw.Load() {
		t.Error("no handle for a normal request")
	}
	if a.m.Len() != 0 {
		t.Errorf("%d sessions created", a.m.Len())
	}
}

// spy calls check when the response header is written.
type spy struct {
	http.ResponseWriter
	check func()
}

func (s *spy) WriteHeader(code int) {
	s.check()
	s.ResponseWriter.WriteHeader(code)
}

func (s *spy) Write(p []byte) (int, error) {
	s.check()
	return s.ResponseWriter.Write(p)
}

func TestMiddlewareAckedReplicatesBeforeFirstByte(t *testing.T) {
	for _, mode := range []delta.ReplicationMode{delta.ReplicateAcked, delta.ReplicateAsync} {
		t.Run(mode.String(), func(t *testing.T) {
			_, a, b, _ := three(t, delta.Config{Replication: mode})
			var sid string
			h := wrap(t, a, delta.HTTPConfig{}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				dr := delta.FromContext(r.Context())
				_ = dr.Set("order", "42")
				sid = dr.ID()
				w.WriteHeader(http.StatusCreated)
				fmt.Fprint(w, "ok")
			}))
			var atFirstByte *bool
			rec := httptest.NewRecorder()
			w := &spy{ResponseWriter: rec, check: func() {
				if atFirstByte == nil {
					s := b.m.Find(sid)
					v := s != nil
					if v {
						_, v = s.Get("order")
					}
					atFirstByte = &v
				}
			}}
			h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/order", nil))
			if rec.Code != http.StatusCreated || atFirstByte == nil {
				t.Fatalf("status %d", rec.Code)
			}
			if want := mode == delta.ReplicateAcked; *atFirstByte != want {
				t.Errorf("B had the change when the response started: %v, want %v", *atFirstByte, want)
			}
			// Asynchronous replication queues the change: it leaves after the answer.
			delta.DrainAsync(a.m)
			if v, _ := b.m.Find(sid).Get("order"); v != "42" {
				t.Error("B does not have the change after the request")
			}
		})
	}
}

func TestMiddlewareAckedFailureWithholdsResponse(t *testing.T) {
	_, a, b, _ := three(t, delta.Config{Replication: delta.ReplicateAcked})
	var writeErr error
	h := wrap(t, a, delta.HTTPConfig{}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		dr := delta.FromContext(r.Context())
		switch r.URL.Path {
		case "/new":
			_ = dr.Set("v", "first")
		case "/set":
			_ = dr.Set("v", "important")
		}
		_, writeErr = fmt.Fprint(w, "stored")
	}))
	id := sessionCookie(t, get(h, "/new", ""), "JSESSIONID").Value

	remove := b.ch.AddMessageListener(failingSessions{func() bool { return true }})
	w := get(h, "/set", id)
	if w.Code != http.StatusServiceUnavailable || strings.Contains(w.Body.String(), "stored") ||
		!errors.Is(writeErr, delta.ErrNotReplicated) {
		t.Errorf("failed replication answered %d %q (handler write error %v)", w.Code, w.Body.String(), writeErr)
	}
	remove()
	sent := a.m.Stats().Sent[delta.EventDelta]
	if w := get(h, "/", id); w.Code != http.StatusOK {
		t.Fatalf("retry answered %d", w.Code)
	}
	if got := a.m.Stats().Sent[delta.EventDelta] - sent; got != 1 {
		t.Errorf("the kept change was sent %d times on the next request", got)
	}
	if v, _ := b.m.Find(id).Get("v"); v != "important" {
		t.Errorf("B v = %v", v)
	}
}

func TestMiddlewareInvalidateAndLateCreate(t *testing.T) {
	_, a, b, _ := three(t, delta.Config{})
	var lateErr error
	h := wrap(t, a, delta.HTTPConfig{}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		dr := delta.FromContext(r.Context())
		switch r.URL.Path {
		case "/logout":
			_ = dr.Invalidate()
		case "/late":
			fmt.Fprint(w, "started")
			lateErr = dr.Set("x", 1)
			return
		default:
			_ = dr.Set("x", 1)
		}
	}))
	id := sessionCookie(t, get(h, "/", ""), "JSESSIONID").Value
	w := get(h, "/logout", id)
	c := sessionCookie(t, w, "JSESSIONID")
	if c == nil || c.MaxAge >= 0 {
		t.Errorf("logout cookie %+v", c)
	}
	if a.m.Find(id) != nil || b.m.Find(id) != nil {
		t.Error("session survived logout")
	}
	get(h, "/late", "")
	if !errors.Is(lateErr, delta.ErrResponseCommitted) {
		t.Errorf("creating after the response started: %v", lateErr)
	}
}

func TestMiddlewareRefuseUntilReady(t *testing.T) {
	nw := channeltest.NewNetwork()
	f, asked := newAsker(t, nw) // the joiner asks again until it hears from the donor
	j := startNode(t, nw, delta.Config{JvmRoute: "j"})
	h := wrap(t, j, delta.HTTPConfig{NotReady: delta.RefuseUntilReady}, counter)
	w := get(h, "/", "")
	if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") == "" {
		t.Errorf("not ready: %d, Retry-After %q", w.Code, w.Header().Get("Retry-After"))
	}
	f.send(t, <-asked, &delta.Message{Event: delta.EventTransferComplete, Context: appName, Timestamp: time.Now().UnixMilli()})
	if err := j.m.WaitReady(context.Background()); err != nil {
		t.Fatal(err)
	}
	if w := get(h, "/", ""); w.Code != http.StatusOK {
		t.Errorf("ready: %d", w.Code)
	}
}

func TestMiddlewareHoldUntilReady(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := channeltest.NewNetwork()
		asked := make(chan channel.Member, 2)
		f := newRaw(t, nw, func(m *delta.Message, src channel.Member) {
			if m.Event == delta.EventGetAllSessions {
				select { // the joiner asks again until it hears from the donor
				case asked <- src:
				default:
				}
			}
		})
		j := startNode(t, nw, delta.Config{JvmRoute: "j"})
		h := wrap(t, j, delta.HTTPConfig{ReadyTimeout: 5 * time.Second}, counter)
		done := make(chan *httptest.ResponseRecorder)
		go func() { done <- get(h, "/", "") }()
		synctest.Wait()
		select {
		case <-done:
			t.Fatal("request served before the manager was ready")
		default:
		}
		time.Sleep(2 * time.Second)
		f.send(t, <-asked, &delta.Message{Event: delta.EventTransferComplete, Context: appName, Timestamp: time.Now().UnixMilli()})
		if w := <-done; w.Code != http.StatusOK {
			t.Errorf("held request answered %d", w.Code)
		}

		// A manager that never becomes ready: the hold ends after ReadyTimeout.
		j2 := startNode(t, nw, delta.Config{Name: "localhost#/other", JvmRoute: "k"})
		h2 := wrap(t, j2, delta.HTTPConfig{ReadyTimeout: 5 * time.Second}, counter)
		start := time.Now()
		if w := get(h2, "/", ""); w.Code != http.StatusServiceUnavailable || time.Since(start) != 5*time.Second {
			t.Errorf("hold timeout: %d after %v", w.Code, time.Since(start))
		}
		_ = j2.m.Stop(context.Background())
	})
}
